/**
 * Health of the app's dependencies as seen from this replica: PostgreSQL (`SELECT 1`) and Redis
 * (`PING`), each within `READY_CHECK_TIMEOUT_MS` of the app contract. A result is reused for {@link CHECK_CACHE_MS},
 * so readiness probes from several load balancers cost one check; the `app_dependency_up` gauge
 * (metrics.ts) asks at every scrape.
 *
 * These results are reported, never turned into unreadiness: see the readiness contract in
 * docs/app.md (a dependency outage hits every replica alike, and taking them all out of rotation
 * would replace the app's own 503 page and its database-free pages with the load balancer's error).
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';

import { READY_CHECK_TIMEOUT_MS as CHECK_TIMEOUT_MS } from '@expense-tracker/model/app-contract';
const CHECK_CACHE_MS = 1_000;

export type DependencyName = 'postgres' | 'redis';
export type DependencyStatus = Record<DependencyName, 'up' | 'down'>;

function withTimeout<T>(p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), CHECK_TIMEOUT_MS).unref())]);
}

export class Dependencies {
  private last: { at: number; status: Promise<DependencyStatus> } | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly redis: Redis,
  ) {}

  /** Checks both dependencies (or returns a result at most a second old). Never throws. */
  check(): Promise<DependencyStatus> {
    const now = Date.now();
    if (this.last && now - this.last.at < CHECK_CACHE_MS) return this.last.status;
    const status = Promise.all([
      withTimeout(this.pool.query('SELECT 1')).then(() => 'up' as const, () => 'down' as const),
      withTimeout(this.redis.ping()).then(() => 'up' as const, () => 'down' as const),
    ]).then(([postgres, redis]) => ({ postgres, redis }));
    this.last = { at: now, status };
    return status;
  }
}
