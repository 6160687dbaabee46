/**
 * Prometheus metrics (prom-client), one registry per app instance so tests can build several.
 * - `http_request_duration_seconds{method,route,status_code}`: histogram, seconds; `route` is the
 *   route pattern (`/api/expenses/:id`), never the raw URL, to bound cardinality.
 * - `pg_pool_connections{state}`: total / idle / waiting clients of the pg Pool.
 * - `pg_pool_acquire_timeouts_total{cause}`: waits for a pool connection that timed out, by cause:
 *   `busy` (PostgreSQL answers, every connection was busy: overload, answered 503 `server_busy`) or
 *   `unavailable` (the latest connection attempt had failed: answered 503 `database_unavailable`).
 * - `summary_cache_requests_total{result}`: hit / miss / bypass / error.
 * - `mail_messages_total{kind,result}`: outbox messages by kind (budget_alert, verify_email,
 *   password_reset, account_exists) and result (sent, failed, suppressed by the daily cap, expired).
 * - `budget_alerts_total{result}`: sent / failed: the budget_alert subset of the above, kept for
 *   alert rules written against it.
 * - `app_dependency_up{dependency}`: 1 when PostgreSQL / Redis answered the last check, else 0.
 * - `login_attempts_total{result}`: success / failure / throttled.
 * - `throttled_requests_total{limiter}`: requests refused (429) by each rate limiter.
 * - default Node.js process metrics (`process_*`, `nodejs_*`).
 */
import { HTTP_DURATION_BUCKETS_SECONDS } from '@expense-tracker/model/app-contract';
import client from 'prom-client';
import type pg from 'pg';
import type { Dependencies } from './dependencies.js';
import type { AcquireTimeoutCause } from './db.js';
import { EventEmitter } from 'node:events';

export interface Metrics {
  registry: client.Registry;
  httpDuration: client.Histogram<'method' | 'route' | 'status_code'>;
  cacheRequests: client.Counter<'result'>;
  /** Counts one outbox message outcome (both counters below). */
  mail: { inc(labels: { kind: string; result: 'sent' | 'failed' | 'suppressed' | 'expired' }): void };
  logins: client.Counter<'result'>;
  throttled: client.Counter<'limiter'>;
}

/**
 * Registers the app's metrics on a new registry. `dependencies` feeds `app_dependency_up` (checked
 * at every scrape); without it that gauge is not registered.
 */
export function createMetrics(pool: pg.Pool, dependencies?: Dependencies): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [...HTTP_DURATION_BUCKETS_SECONDS],
    registers: [registry],
  });
  new client.Gauge({
    name: 'pg_pool_connections',
    help: 'PostgreSQL pool clients by state (total, idle, waiting)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });
  const acquireTimeouts = new client.Counter({
    name: 'pg_pool_acquire_timeouts_total',
    help: 'Waits for a PostgreSQL pool connection that timed out, by cause (busy: overload; unavailable: database unreachable)',
    labelNames: ['cause'] as const,
    registers: [registry],
  });
  for (const cause of ['busy', 'unavailable'] as const) acquireTimeouts.inc({ cause }, 0);
  if (pool instanceof EventEmitter) (pool as EventEmitter).on('acquireTimeout', (cause: AcquireTimeoutCause) => acquireTimeouts.inc({ cause })); // AppPool's event
  const cacheRequests = new client.Counter({
    name: 'summary_cache_requests_total',
    help: 'Dashboard aggregate cache lookups by result (hit, miss, bypass, error)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const budgetAlerts = new client.Counter({
    name: 'budget_alerts_total',
    help: 'Budget alert email attempts by result (sent, failed); the budget_alert subset of mail_messages_total',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const messages = new client.Counter({
    name: 'mail_messages_total',
    help: 'Outbox email messages by kind and result (sent, failed, suppressed, expired)',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });
  // One call site for both counters, so the subset cannot drift from the total.
  const mail: Metrics['mail'] = {
    inc(labels) {
      messages.inc(labels);
      if (labels.kind === 'budget_alert' && (labels.result === 'sent' || labels.result === 'failed')) budgetAlerts.inc({ result: labels.result });
    },
  };
  if (dependencies) {
    new client.Gauge({
      name: 'app_dependency_up',
      help: 'Whether a dependency answered its check (1) or not (0): postgres, redis',
      labelNames: ['dependency'] as const,
      registers: [registry],
      async collect() {
        for (const [name, state] of Object.entries(await dependencies.check())) this.set({ dependency: name }, state === 'up' ? 1 : 0);
      },
    });
  }
  const logins = new client.Counter({
    name: 'login_attempts_total',
    help: 'Login form submissions by result (success, failure, throttled)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const throttled = new client.Counter({
    name: 'throttled_requests_total',
    help: 'Requests refused with 429 by rate limiter',
    labelNames: ['limiter'] as const,
    registers: [registry],
  });
  return { registry, httpDuration, cacheRequests, mail, logins, throttled };
}
