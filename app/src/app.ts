/**
 * The Fastify application. {@link buildApp} creates the shared services (sessions, dashboard
 * cache, throttling, mail outbox, budget alerts, accounts, metrics, expense writes) on
 * already-created dependencies (pg Pool, ioredis client, mailer), registers the cross-cutting
 * plugins (cookies, forms, Helmet, CSRF) and then the app's own plugins, each owning its routes
 * and hooks:
 *
 * - `plugins/input.ts`: 400 for control characters in any header, query, path or body field;
 * - `plugins/ops.ts`: /healthz, /readyz and the request-duration hook;
 * - `plugins/session.ts`: loads the session and user of every request (refuses nothing);
 * - `plugins/html.ts`: `reply.page()` and the HTML error and not-found pages;
 * - `plugins/api.ts` under `/api`: JSON routes, 401/415 hooks, JSON errors;
 * - `plugins/account.ts`: registration, login, password reset, verification, the account page;
 * - `plugins/pages.ts`: public, dashboard, expense, export and settings pages;
 * - `plugins/admin.ts`: administrator pages (403 for other users);
 * - `imports/api.ts` under `/api/imports` and `imports/page.ts`: CSV statement imports.
 *
 * It does not listen: `server.ts` owns the process (listen, the metrics listener, SIGTERM),
 * tests call `buildApp` directly.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyCsrf from '@fastify/csrf-protection';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Mailer } from './mailer.js';
import { createMetrics, type Metrics } from './metrics.js';
import { SessionStore } from './sessions.js';
import { SummaryCache } from './cache.js';
import { Outbox, type OutboxOptions } from './outbox.js';
import { BudgetAlerts, type AlertOptions } from './alerts.js';
import { Accounts } from './accounts.js';
import { ExpenseService } from './expenses.js';
import { Dependencies } from './dependencies.js';
import { Throttle, type Limit, type LimitName } from './throttle.js';
import { warmUpPasswordChecks } from './passwords.js';
import inputPlugin, { clientErrorHandler } from './plugins/input.js';
import opsPlugin, { type AppState } from './plugins/ops.js';
import sessionPlugin from './plugins/session.js';
import htmlPlugin from './plugins/html.js';
import apiPlugin from './plugins/api.js';
import accountPlugin from './plugins/account.js';
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
  /** Throttling limits replacing `DEFAULT_LIMITS` of `throttle.ts` (tests use small ones). */
  throttle?: Partial<Record<LimitName, Limit>>;
  outbox?: OutboxOptions;
  alerts?: AlertOptions;
  /** Milliseconds between purges of expired sessions, tokens and old mail quotas (default 15 min). */
  housekeepingIntervalMs?: number;
}

export interface BuiltApp {
  app: FastifyInstance;
  state: AppState;
  outbox: Outbox;
  alerts: BudgetAlerts;
  sessions: SessionStore;
  metrics: Metrics;
  /** Starts the background work: the outbox retry loop and housekeeping. Stopped by `app.close()`. */
  start(): void;
}

/**
 * Proxies whose `X-Forwarded-For` is believed (proxy-addr names): loopback and private networks,
 * where HAProxy, the Ingress controller and cluster load balancers live. The client address is the
 * first one, from the right, outside these, so a client cannot pick its own address for the
 * per-address throttles by sending the header.
 */
const TRUSTED_PROXIES = ['loopback', 'linklocal', 'uniquelocal'];

export async function buildApp(deps: AppDeps, options: AppOptions = {}): Promise<BuiltApp> {
  const { config, pool, redis, mailer, logger } = deps;
  const state: AppState = { shuttingDown: false };
  const dependencies = new Dependencies(pool, redis);
  const metrics = createMetrics(pool, dependencies);
  const sessions = new SessionStore(pool);
  const cache = new SummaryCache(redis, metrics, options.cache ?? true);
  const outbox = new Outbox(pool, mailer, logger.child({ component: 'outbox' }), metrics, config.publicBaseUrl, options.outbox);
  const alerts = new BudgetAlerts(pool, outbox, logger.child({ component: 'alerts' }), options.alerts);
  const accounts = new Accounts(pool, outbox, sessions, config, logger.child({ component: 'accounts' }));
  const expenses = new ExpenseService(pool, cache, alerts);
  const throttle = new Throttle(redis, metrics, options.throttle);
  warmUpPasswordChecks();

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    trustProxy: TRUSTED_PROXIES,
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    clientErrorHandler,
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

  await app.register(inputPlugin);
  await app.register(opsPlugin, { dependencies, metrics, state });
  await app.register(sessionPlugin, { sessions });
  await app.register(htmlPlugin);
  await app.register(apiPlugin, { prefix: '/api', pool, expenses, alerts, accounts, publicBaseUrl: config.publicBaseUrl });
  await app.register(accountPlugin, { config, pool, sessions, accounts, throttle, metrics });
  await app.register(pagesPlugin, { pool, expenses, alerts, accounts });
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

  let housekeeping: NodeJS.Timeout | undefined;
  const purge = async () => {
    try {
      const ended = await sessions.purgeExpired();
      const removed = await accounts.purgeExpired();
      if (ended + removed > 0) logger.debug({ sessions: ended, rows: removed }, 'housekeeping purged expired rows');
    } catch (err) {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'housekeeping failed');
    }
  };
  app.addHook('onClose', async () => {
    if (housekeeping) clearInterval(housekeeping);
    await outbox.stop();
  });

  return {
    app,
    state,
    outbox,
    alerts,
    sessions,
    metrics,
    start() {
      outbox.start();
      housekeeping ??= setInterval(() => void purge(), options.housekeepingIntervalMs ?? 15 * 60_000);
      housekeeping.unref();
    },
  };
}
