/**
 * Short-TTL cache of dashboard figures in Redis: `summary:v1:<userId>:<YYYY-MM>` -> JSON
 * {@link MonthAggregates} of a month, and `trend:v1:<userId>:<YYYY-MM>` -> monthly totals of the
 * twelve months ending there. A write to month M deletes M's summary and the trends ending at
 * M .. M+11 (every trend that includes M). Redis errors never fail a
 * request: reads fall back to PostgreSQL. A key whose invalidation failed (Redis down during a
 * write) is remembered: this process bypasses it until the delete succeeds (retried on the next
 * read) or the TTL has expired, so it never serves an aggregate older than its own write.
 */
import type { Redis } from 'ioredis';
import type { MonthAggregates, MonthlyTotal } from './repo.js';
import type { Metrics } from './metrics.js';
import { monthsEnding, addMonths } from './calendar.js';

/** Months of the dashboard's month-over-month chart (a trend key covers this many). */
export const TREND_MONTHS = 12;

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

  private summaryKey(userId: string, month: string) {
    return `summary:v1:${userId}:${month}`;
  }

  private trendKey(userId: string, endMonth: string) {
    return `trend:v1:${userId}:${endMonth}`;
  }

  /** A month's aggregates, cached or computed (and stored). */
  aggregates(userId: string, month: string, compute: () => Promise<MonthAggregates>): Promise<MonthAggregates> {
    return this.get(this.summaryKey(userId, month), compute);
  }

  /** Monthly totals of the {@link TREND_MONTHS} months ending with `endMonth`, cached or computed. */
  trend(userId: string, endMonth: string, compute: () => Promise<MonthlyTotal[]>): Promise<MonthlyTotal[]> {
    return this.get(this.trendKey(userId, endMonth), compute);
  }

  /** Returns the cached value or computes, stores and returns it. */
  private async get<T>(key: string, compute: () => Promise<T>): Promise<T> {
    if (!this.enabled || this.redis.status !== 'ready' || !(await this.clearIfStale(key))) {
      this.metrics.cacheRequests.inc({ result: 'bypass' });
      return compute();
    }
    try {
      const hit = await this.redis.get(key);
      if (hit) {
        this.metrics.cacheRequests.inc({ result: 'hit' });
        return JSON.parse(hit) as T;
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
    const keys = [...new Set(months)].flatMap((m) => [
      this.summaryKey(userId, m),
      ...monthsEnding(addMonths(m, TREND_MONTHS - 1), TREND_MONTHS).map((end) => this.trendKey(userId, end)),
    ]);
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
