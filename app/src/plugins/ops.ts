/**
 * Operational endpoints and request metrics (fastify-plugin: the metrics hook observes every
 * route of the app). `/healthz` is liveness (no dependency checks), `/readyz` readiness, and
 * `/metrics` the Prometheus text exposition. None of them loads a session.
 */
import fp from 'fastify-plugin';
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Metrics } from '../metrics.js';
import { HEALTH_PATH, METRICS_PATH, READY_PATH } from '@expense-tracker/model/app-contract';

export interface AppState {
  /** Set when SIGTERM arrives: /readyz answers 503 from then on. */
  shuttingDown: boolean;
}

export interface OpsPluginOptions {
  pool: pg.Pool;
  redis: Redis;
  metrics: Metrics;
  state: AppState;
}

/** Milliseconds a readiness dependency check may take before it counts as failed. */
const CHECK_TIMEOUT_MS = 1_000;

const opsPlugin: FastifyPluginAsync<OpsPluginOptions> = async (app, { pool, redis, metrics, state }) => {
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  const none = { config: { auth: 'none' as const } };

  app.get(HEALTH_PATH, none, async () => ({ status: 'ok' }));

  app.get(READY_PATH, none, async (_req, reply) => {
    if (state.shuttingDown) return reply.code(503).send({ status: 'shutting_down' });
    const withTimeout = <T>(p: Promise<T>) =>
      Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), CHECK_TIMEOUT_MS).unref())]);
    const [pgOk, redisOk] = await Promise.all([
      withTimeout(pool.query('SELECT 1')).then(() => true, () => false),
      withTimeout(redis.ping()).then(() => true, () => false),
    ]);
    const body = { status: pgOk && redisOk ? 'ready' : 'not_ready', postgres: pgOk, redis: redisOk };
    return reply.code(pgOk && redisOk ? 200 : 503).send(body);
  });

  app.get(METRICS_PATH, none, async (_req, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
};

export default fp(opsPlugin, { name: 'ops' });
