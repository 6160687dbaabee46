/**
 * Short-TTL cache of dashboard aggregates in Redis: `summary:v1:<userId>:<YYYY-MM>` -> JSON
 * {@link MonthAggregates}. Writes delete the affected months' keys. Redis errors never fail a
 * request: reads fall back to PostgreSQL, and after a failed invalidation this process bypasses
 * the cache for one TTL so it cannot serve an aggregate older than its own write.
 */
import type { Redis } from 'ioredis';
import type { MonthAggregates } from './repo.js';
import type { Metrics } from './metrics.js';

/** Seconds a cached aggregate lives. */
export const SUMMARY_TTL_SECONDS = 30;

export class SummaryCache {
  private bypassUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly metrics: Metrics,
    /** False disables the cache (benchmark baseline). */
    readonly enabled = true,
  ) {}

  private key(userId: string, month: string) {
    return `summary:v1:${userId}:${month}`;
  }

  /** Returns the cached aggregate or computes, stores and returns it. */
  async get(userId: string, month: string, compute: () => Promise<MonthAggregates>): Promise<MonthAggregates> {
    if (!this.enabled || Date.now() < this.bypassUntil || this.redis.status !== 'ready') {
      this.metrics.cacheRequests.inc({ result: 'bypass' });
      return compute();
    }
    try {
      const hit = await this.redis.get(this.key(userId, month));
      if (hit) {
        this.metrics.cacheRequests.inc({ result: 'hit' });
        return JSON.parse(hit) as MonthAggregates;
      }
    } catch {
      this.metrics.cacheRequests.inc({ result: 'error' });
      return compute();
    }
    this.metrics.cacheRequests.inc({ result: 'miss' });
    const value = await compute();
    await this.redis.set(this.key(userId, month), JSON.stringify(value), 'EX', SUMMARY_TTL_SECONDS).catch(() => undefined);
    return value;
  }

  /** Drops the cached aggregates of `months` (YYYY-MM) for a user, after a write. */
  async invalidate(userId: string, months: Iterable<string>): Promise<void> {
    if (!this.enabled) return;
    const keys = [...new Set(months)].map((m) => this.key(userId, m));
    try {
      if (this.redis.status !== 'ready') throw new Error('redis not ready');
      await this.redis.del(...keys);
    } catch {
      this.bypassUntil = Date.now() + SUMMARY_TTL_SECONDS * 1000;
    }
  }
}
