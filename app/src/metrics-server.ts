/**
 * The Prometheus endpoint on its own listener (`METRICS_PORT`), so it is never reachable through
 * the app's port, HAProxy or the Ingress: the chart exposes that port inside the cluster only.
 * Serves `GET /metrics` (prom-client text format) and 404 for anything else.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';
import { METRICS_PATH } from '@expense-tracker/model/app-contract';

export function buildMetricsServer(metrics: Metrics, logger: Logger): FastifyInstance {
  // Scrapes are not worth an info line each: only warnings and errors of this listener are logged.
  const app = Fastify({ loggerInstance: logger.child({ component: 'metrics' }, { level: 'warn' }) as FastifyBaseLogger });
  app.get(METRICS_PATH, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  return app;
}
