/**
 * Short-TTL cache of dashboard aggregates in Redis: `summary:v1:<userId>:<YYYY-MM>` -> JSON
 * {@link MonthAggregates}. Writes delete the affected months' keys. Redis errors never fail a
 * request: reads fall back to PostgreSQL. A key whose invalidation failed (Redis down during a
 * write) is remembered: this process bypasses it until the delete succeeds (retried on the next
 * read) or the TTL has expired, so it never serves an aggregate older than its own write.
 */
import type { Redis } from 'ioredis';
import type { MonthAggregates } from './repo.js';
import type { Metrics } from './metrics.js';

/** Seconds a cached aggregate lives. */
const SUMMARY_TTL_SECONDS = 30;

export class SummaryCache {
  /** Keys whose delete failed -> time (ms since epoch) after which Redis has expired them anyway. */
  private readonly staleKeys = new Map<string, number>();

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
    const key = this.key(userId, month);
    if (!this.enabled || this.redis.status !== 'ready' || !(await this.clearIfStale(key))) {
      this.metrics.cacheRequests.inc({ result: 'bypass' });
      return compute();
    }
    try {
      const hit = await this.redis.get(key);
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
    await this.redis.set(key, JSON.stringify(value), 'EX', SUMMARY_TTL_SECONDS).catch(() => undefined);
    return value;
  }

  /** True when `key` may be read: it was never stale, has expired, or is deleted now. */
  private async clearIfStale(key: string): Promise<boolean> {
    const until = this.staleKeys.get(key);
    if (until === undefined) return true;
    if (Date.now() >= until) {
      this.staleKeys.delete(key);
      return true;
    }
    try {
      await this.redis.del(key);
      this.staleKeys.delete(key);
      return true;
    } catch {
      return false;
    }
  }

  /** Drops the cached aggregates of `months` (YYYY-MM) for a user, after a write. */
  async invalidate(userId: string, months: Iterable<string>): Promise<void> {
    if (!this.enabled) return;
    const keys = [...new Set(months)].map((m) => this.key(userId, m));
    try {
      if (this.redis.status !== 'ready') throw new Error('redis not ready');
      await this.redis.del(...keys);
    } catch {
      const now = Date.now();
      if (this.staleKeys.size > 10_000) for (const [k, t] of this.staleKeys) if (t <= now) this.staleKeys.delete(k);
      for (const k of keys) this.staleKeys.set(k, now + SUMMARY_TTL_SECONDS * 1000);
    }
  }
}
