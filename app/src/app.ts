/**
 * The Fastify application. {@link buildApp} creates the shared services (sessions, dashboard
 * cache, budget alerts, metrics, expense writes) on already-created dependencies (pg Pool, ioredis
 * client, mailer), registers the cross-cutting plugins (cookies, forms, Helmet, CSRF, rate limit)
 * and then the app's own plugins, each owning its routes and hooks:
 *
 * - `plugins/ops.ts`: /healthz, /readyz, /metrics and the request-duration hook;
 * - `plugins/session.ts`: loads the session and user of every request (refuses nothing);
 * - `plugins/html.ts`: `reply.page()` and the HTML error and not-found pages;
 * - `plugins/api.ts` under `/api`: JSON routes, 401/415 hooks, JSON errors;
 * - `plugins/pages.ts`: public, account, expense and settings pages;
 * - `plugins/admin.ts`: administrator pages (403 for other users);
 * - `imports/api.ts` under `/api/imports` and `imports/page.ts`: CSV statement imports.
 *
 * It does not listen: `server.ts` owns the process (listen, SIGTERM), tests call `buildApp` directly.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyCsrf from '@fastify/csrf-protection';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Mailer } from './mailer.js';
import { createMetrics, type Metrics } from './metrics.js';
import { SessionStore } from './sessions.js';
import { SummaryCache } from './cache.js';
import { BudgetAlerts, type AlertOptions } from './alerts.js';
import { ExpenseService } from './expenses.js';
import opsPlugin, { type AppState } from './plugins/ops.js';
import sessionPlugin from './plugins/session.js';
import htmlPlugin from './plugins/html.js';
import apiPlugin from './plugins/api.js';
import pagesPlugin from './plugins/pages.js';
import adminPlugin from './plugins/admin.js';
import importsApiPlugin from './imports/api.js';
import importsPagePlugin from './imports/page.js';
import { openStagingStore } from './imports/store.js';
import { defaultOwner } from './imports/repo.js';

interface AppDeps {
  config: Config;
  pool: pg.Pool;
  redis: Redis;
  mailer: Mailer;
  logger: Logger;
}

export interface AppOptions {
  /** Use the Redis dashboard cache (default true; the benchmark turns it off for its baseline). */
  cache?: boolean;
  /** Login attempts allowed per email per window (default 10 per 300 000 ms). */
  loginRateLimit?: { max: number; timeWindowMs: number };
  alerts?: AlertOptions;
}

export interface BuiltApp {
  app: FastifyInstance;
  state: AppState;
  alerts: BudgetAlerts;
  metrics: Metrics;
}

export async function buildApp(deps: AppDeps, options: AppOptions = {}): Promise<BuiltApp> {
  const { config, pool, redis, mailer } = deps;
  const state: AppState = { shuttingDown: false };
  const metrics = createMetrics(pool);
  const sessions = new SessionStore(redis);
  const cache = new SummaryCache(redis, metrics, options.cache ?? true);
  const alerts = new BudgetAlerts(pool, mailer, deps.logger.child({ component: 'alerts' }), metrics, config.publicBaseUrl, options.alerts);
  const expenses = new ExpenseService(pool, cache, alerts);

  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    trustProxy: true,
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
  });

  await app.register(fastifyCookie, { secret: config.sessionSecret });
  await app.register(fastifyFormbody);
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'self'"],
        objectSrc: ["'none'"],
        ...(config.secureCookies ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    strictTransportSecurity: config.secureCookies ? { maxAge: 15_552_000, includeSubDomains: true } : false,
  });
  await app.register(fastifyCsrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: '_csrf',
    cookieOpts: { signed: true, httpOnly: true, sameSite: 'lax', secure: config.secureCookies, path: '/' },
  });
  await app.register(fastifyRateLimit, {
    global: false,
    redis,
    nameSpace: 'ratelimit:',
    // When Redis is down login answers 503 anyway (no session can be created), so don't 500 here.
    skipOnError: true,
  });

  await app.register(opsPlugin, { pool, redis, metrics, state });
  await app.register(sessionPlugin, { pool, sessions });
  await app.register(htmlPlugin);
  await app.register(apiPlugin, { prefix: '/api', pool, expenses, alerts });
  await app.register(pagesPlugin, {
    config,
    pool,
    redis,
    sessions,
    expenses,
    alerts,
    loginRateLimit: options.loginRateLimit ?? { max: 10, timeWindowMs: 300_000 },
  });
  await app.register(adminPlugin, { pool });
  const staging = await openStagingStore(config.imports.stagingDir, deps.logger);
  await app.register(importsApiPlugin, {
    prefix: '/api/imports',
    pool,
    config: config.imports,
    store: staging.store,
    unavailableReason: staging.reason,
    owner: defaultOwner(),
    log: deps.logger.child({ component: 'imports' }),
    onImported: (userId, months) => expenses.afterImport(userId, months),
  });
  await app.register(importsPagePlugin, { pool, maxBytes: config.imports.maxBytes, enabled: staging.store !== null });

  app.addHook('onClose', async () => {
    await alerts.stop();
  });

  return { app, state, alerts, metrics };
}
