/**
 * Probes and request metrics (fastify-plugin: the metrics hook observes every route of the app).
 * The readiness contract (`model/app-contract.ts`, docs/app.md):
 *
 * - `GET /healthz` (liveness): 200 `{status:'ok'}` while the process can answer at all. It never
 *   checks a dependency, so an outage never gets pods restarted.
 * - `GET /readyz` (readiness): 200 while the replica can take traffic, i.e. until shutdown begins;
 *   then 503 `{status:'shutting_down'}`. PostgreSQL, Redis and the pg pool are checked and
 *   reported (`{status:'ready'|'degraded'|'busy', postgres:'up'|'down', redis:'up'|'down',
 *   pool:'ok'|'exhausted'}`, and the `app_dependency_up` gauge) but never fail readiness: Redis
 *   is only a cache; with PostgreSQL down every replica alike answers its own 503 page with
 *   `Retry-After` and keeps serving the pages that need no database, which taking replicas out of
 *   rotation would replace with the load balancer's bare error; and an overloaded replica taken
 *   out of rotation would only move its load onto the others.
 *
 * `/metrics` is not here: it is served on its own port (`metrics-server.ts`).
 */
import fp from 'fastify-plugin';
import type { FastifyPluginAsync } from 'fastify';
import type { Metrics } from '../metrics.js';
import type { Dependencies } from '../dependencies.js';
import { HEALTH_PATH, READY_PATH, READY_STATUS, DRAINING_STATUS } from '@expense-tracker/model/app-contract';

export interface AppState {
  /** Set when SIGTERM arrives: /readyz answers 503 from then on. */
  shuttingDown: boolean;
}

export interface OpsPluginOptions {
  dependencies: Dependencies;
  metrics: Metrics;
  state: AppState;
}

const opsPlugin: FastifyPluginAsync<OpsPluginOptions> = async (app, { dependencies, metrics, state }) => {
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  const none = { config: { auth: 'none' as const } };

  app.get(HEALTH_PATH, none, async () => ({ status: 'ok' }));

  app.get(READY_PATH, none, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    if (state.shuttingDown) return reply.code(DRAINING_STATUS).send({ status: 'shutting_down' });
    const status = await dependencies.check();
    const degraded = status.postgres === 'down' || status.redis === 'down';
    return reply.code(READY_STATUS).send({ status: degraded ? 'degraded' : status.pool === 'exhausted' ? 'busy' : 'ready', ...status });
  });
};

export default fp(opsPlugin, { name: 'ops' });
