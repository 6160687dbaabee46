/**
 * Prometheus metrics (prom-client), one registry per app instance so tests can build several.
 * - `http_request_duration_seconds{method,route,status_code}`: histogram, seconds; `route` is the
 *   route pattern (`/api/expenses/:id`), never the raw URL, to bound cardinality.
 * - `pg_pool_connections{state}`: total / idle / waiting clients of the pg Pool.
 * - `summary_cache_requests_total{result}`: hit / miss / bypass / error.
 * - `budget_alerts_total{result}`: sent / failed.
 * - default Node.js process metrics (`process_*`, `nodejs_*`).
 */
import client from 'prom-client';
import type pg from 'pg';

export interface Metrics {
  registry: client.Registry;
  httpDuration: client.Histogram<'method' | 'route' | 'status_code'>;
  cacheRequests: client.Counter<'result'>;
  alerts: client.Counter<'result'>;
}

export function createMetrics(pool: pg.Pool): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
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
  const cacheRequests = new client.Counter({
    name: 'summary_cache_requests_total',
    help: 'Dashboard aggregate cache lookups by result (hit, miss, bypass, error)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const alerts = new client.Counter({
    name: 'budget_alerts_total',
    help: 'Budget alert email attempts by result (sent, failed)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  return { registry, httpDuration, cacheRequests, alerts };
}
