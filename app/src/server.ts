/**
 * Process entry point (`node dist/server.js`): validates the environment, connects, listens on
 * HOST:PORT (the app) and HOST:METRICS_PORT (`/metrics` only) and shuts down gracefully.
 *
 * Shutdown on SIGTERM/SIGINT: /readyz answers 503 at once; after `drainDelayMs` (default 2 s, so
 * load balancers that poll readiness stop sending) the listener closes, in-flight requests finish,
 * pending mail sends finish, then the pg pool, Redis and the metrics listener close and the process exits 0. A hard
 * deadline (`forceExitMs`, default 20 s: under the chart's 30 s grace period minus its preStop
 * pause) exits 1 if something hangs. The server does not migrate unless `--migrate` is given.
 */
import { pathToFileURL } from 'node:url';
import { loadConfig, ConfigError, type Config } from './config.js';
import { createLogger } from './logger.js';
import { createPool, migrate } from './db.js';
import { createRedis, connectRedis } from './redis.js';
import { createSendgridMailer } from './mailer.js';
import { buildApp, type AppOptions, type BuiltApp } from './app.js';
import { buildMetricsServer } from './metrics-server.js';

/** Resolves once no pool client has been checked out for `quietMs` (or after `maxMs`). */
async function poolQuiet(pool: { totalCount: number; idleCount: number; waitingCount: number }, quietMs: number, maxMs: number) {
  const deadline = Date.now() + maxMs;
  let quietSince = Date.now();
  while (Date.now() < deadline && Date.now() - quietSince < quietMs) {
    if (pool.totalCount > pool.idleCount || pool.waitingCount > 0) quietSince = Date.now();
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface StartOptions extends AppOptions {
  drainDelayMs?: number;
  forceExitMs?: number;
  /** Apply migrations before listening (off by default: the chart runs `cli.js migrate`). */
  migrate?: boolean;
}

export interface RunningServer extends BuiltApp {
  config: Config;
  /** Runs the shutdown sequence (what SIGTERM triggers). Resolves when everything is closed. */
  shutdown(reason: string): Promise<void>;
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  if (opts.migrate) {
    const applied = await migrate(config.postgres, (m) => logger.debug(m));
    logger.info({ applied }, 'migrations applied');
  }
  const pool = createPool(config.postgres, { onIdleError: (err) => logger.warn({ err: err.message }, 'idle postgres client error') });
  const redis = createRedis(config.redis, logger);
  await connectRedis(redis, logger);
  const mailer = createSendgridMailer(config.sendgrid, config.mailFrom);
  const built = await buildApp({ config, pool, redis, mailer, logger }, opts);
  const metricsServer = buildMetricsServer(built.metrics, logger);
  built.start();
  await metricsServer.listen({ port: config.metricsPort, host: config.host });
  await built.app.listen({ port: config.port, host: config.host });

  let closing: Promise<void> | undefined;
  const shutdown = (reason: string) => {
    closing ??= (async () => {
      built.state.shuttingDown = true;
      logger.info({ reason }, 'shutdown started: readiness now failing');
      const force = setTimeout(() => {
        logger.error('shutdown took too long; exiting');
        process.exit(1);
      }, opts.forceExitMs ?? 20_000);
      force.unref();
      await new Promise((r) => setTimeout(r, opts.drainDelayMs ?? 2_000));
      await built.app.close(); // stops accepting, waits for open connections, stops the outbox loop
      // Handlers of requests whose client disconnected may still be running (their socket is
      // gone, so close() did not wait for them): wait until the pool has been idle for 100 ms.
      await poolQuiet(pool, 100, 5_000);
      await built.outbox.stop(); // and mail sends they started
      await pool.end();
      await redis.quit().catch(() => redis.disconnect());
      await metricsServer.close();
      logger.info('shutdown complete');
      clearTimeout(force);
    })();
    return closing;
  };
  return { ...built, config, shutdown };
}

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`expense-tracker: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const server = await startServer(config, { migrate: process.argv.includes('--migrate') });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      server.shutdown(signal).then(
        () => process.exit(0),
        (err) => {
          server.app.log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`expense-tracker: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
