/**
 * Health of the app's dependencies as seen from this replica: PostgreSQL (`SELECT 1`) and Redis
 * (`PING`), each within `READY_CHECK_TIMEOUT_MS` of the app contract, and whether the pg pool is
 * exhausted. A result is reused for {@link CHECK_CACHE_MS}, so readiness probes from several load
 * balancers cost one check; the `app_dependency_up` gauge (metrics.ts) asks at every scrape.
 *
 * The PostgreSQL check takes a connection from the app's pool like any request. When every
 * connection is busy it would wait behind the requests and time out although PostgreSQL answers,
 * so then it does not queue: it reports what the pool last saw (`AppPool.lastConnect`: up unless
 * the latest connection attempt failed), and the pool as `exhausted` once requests wait.
 *
 * These results are reported, never turned into unreadiness: see the readiness contract in
 * docs/app.md (a dependency outage hits every replica alike, and taking them all out of rotation
 * would replace the app's own 503 page and its database-free pages with the load balancer's error;
 * an overloaded replica taken out of rotation would only push its load onto the others).
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';
import { AppPool } from './db.js';

import { READY_CHECK_TIMEOUT_MS as CHECK_TIMEOUT_MS } from '@expense-tracker/model/app-contract';
const CHECK_CACHE_MS = 1_000;
/** A pool is reported `exhausted` for this long after a request gave up waiting for a connection (ms). */
export const EXHAUSTED_REPORT_MS = 10_000;

export type DependencyName = 'postgres' | 'redis';
export type DependencyStatus = Record<DependencyName, 'up' | 'down'> & {
  /** `exhausted` while requests wait for a database connection or one gave up waiting recently. */
  pool: 'ok' | 'exhausted';
};

const TIMED_OUT = Symbol('timed out');
function withTimeout<T>(p: Promise<T>, ms = CHECK_TIMEOUT_MS): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms).unref()))]).finally(() =>
    clearTimeout(timer),
  );
}

export class Dependencies {
  private last: { at: number; status: Promise<DependencyStatus> } | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly redis: Redis,
  ) {}

  /** Checks both dependencies and the pool (or returns a result at most a second old). Never throws. */
  check(): Promise<DependencyStatus> {
    const now = Date.now();
    if (this.last && now - this.last.at < CHECK_CACHE_MS) return this.last.status;
    const status = Promise.all([
      this.checkPostgres(),
      withTimeout(this.redis.ping()).then(
        (r) => (r === TIMED_OUT ? ('down' as const) : ('up' as const)),
        () => 'down' as const,
      ),
    ]).then(([postgres, redis]) => ({ postgres, redis, pool: this.exhausted() ? ('exhausted' as const) : ('ok' as const) }));
    this.last = { at: now, status };
    return status;
  }

  private exhausted(): boolean {
    return this.pool instanceof AppPool ? this.pool.exhausted(EXHAUSTED_REPORT_MS) : this.pool.waitingCount > 0;
  }

  private async checkPostgres(): Promise<'up' | 'down'> {
    const started = Date.now();
    // Every connection busy and no room for another: a check would only queue behind the
    // requests (and add to them), and its wait says nothing about PostgreSQL.
    if (this.pool instanceof AppPool && this.pool.idleCount === 0 && this.pool.totalCount >= (this.pool.options.max ?? 10)) {
      return this.pool.lastConnect === 'failed' ? 'down' : 'up';
    }
    const acquiring = this.pool.connect();
    const client = await withTimeout(acquiring).catch(() => undefined);
    if (client === undefined) return 'down';
    if (client === TIMED_OUT) {
      void acquiring.then((c) => c.release(), () => undefined);
      return 'down';
    }
    let broken: Error | undefined;
    try {
      const answer = await withTimeout(client.query('SELECT 1'), Math.max(1, CHECK_TIMEOUT_MS - (Date.now() - started)));
      if (answer === TIMED_OUT) {
        broken = new Error('readiness check timed out'); // do not hand a connection with a query in flight to a request
        return 'down';
      }
      return 'up';
    } catch (err) {
      broken = err as Error;
      return 'down';
    } finally {
      client.release(broken);
    }
  }
}
