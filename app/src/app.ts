/**
 * The Fastify application: pages, JSON API, operational endpoints. {@link buildApp} wires the
 * routes onto already-created dependencies (pg Pool, ioredis client, mailer) and does not listen;
 * `server.ts` owns the process (listen, SIGTERM), tests call `buildApp` directly.
 *
 * Status codes of the JSON API (`/api/...`): 400 validation error `{error:'validation_failed',
 * field, message}`, 401 no session, 404 unknown or another user's resource, 415 body not JSON,
 * 503 sessions unavailable. Pages redirect to `/login` (303) instead of 401.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyCsrf from '@fastify/csrf-protection';
import argon2 from 'argon2';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Mailer } from './mailer.js';
import { createMetrics, type Metrics } from './metrics.js';
import { SessionStore, SessionsUnavailableError, SESSION_COOKIE, SESSION_TTL_SECONDS, type SessionLookup } from './sessions.js';
import { SummaryCache } from './cache.js';
import { BudgetAlerts, type AlertOptions } from './alerts.js';
import * as repo from './repo.js';
import type { User, Expense } from './repo.js';
import {
  budgetSchema,
  credentialsSchema,
  currentMonth,
  expenseCreateSchema,
  expensePatchSchema,
  firstIssue,
  monthSchema,
  type ExpenseInput,
  type ExpensePatch,
} from './validation.js';
import { centsToDecimal, isCurrency, parseDecimalAmount } from './money.js';
import * as views from './views.js';
import type { Html } from './html.js';
import { HEALTH_PATH, METRICS_PATH, READY_PATH } from './contract.js';

type AuthMode = 'none' | 'optional' | 'page' | 'admin' | 'api';

declare module 'fastify' {
  interface FastifyRequest {
    user: User | null;
    session: SessionLookup;
  }
  interface FastifyContextConfig {
    /** Who may call the route; `none` skips session loading entirely (probes, metrics, assets). */
    auth?: AuthMode;
  }
}

export interface AppDeps {
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

export interface AppState {
  /** Set when SIGTERM arrives: /readyz answers 503 from then on. */
  shuttingDown: boolean;
}

export interface BuiltApp {
  app: FastifyInstance;
  state: AppState;
  alerts: BudgetAlerts;
  metrics: Metrics;
}

/** OWASP-recommended argon2id cost (19 MiB, 2 passes, 1 lane). */
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Validation failure carrying the field name; rendered as 400. */
class ValidationError extends Error {
  readonly statusCode = 400;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

const isApi = (req: FastifyRequest) => req.url === '/api' || req.url.startsWith('/api/');

function str(body: unknown, key: string): string {
  const v = (body as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '';
}

export async function buildApp(deps: AppDeps, options: AppOptions = {}): Promise<BuiltApp> {
  const { config, pool, redis, mailer } = deps;
  const state: AppState = { shuttingDown: false };
  const metrics = createMetrics(pool);
  const sessions = new SessionStore(redis);
  const cache = new SummaryCache(redis, metrics, options.cache ?? true);
  const alerts = new BudgetAlerts(pool, mailer, deps.logger.child({ component: 'alerts' }), metrics, config.publicBaseUrl, options.alerts);
  const loginLimit = options.loginRateLimit ?? { max: 10, timeWindowMs: 300_000 };
  const dummyHash = await argon2.hash('not-a-real-password', ARGON2_OPTIONS);

  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    trustProxy: true,
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
  });

  app.decorateRequest('user', null);
  app.decorateRequest('session', null as unknown as { getter(): SessionLookup });

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

  const cookieOptions = {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: config.secureCookies,
    path: '/',
    signed: true,
    maxAge: SESSION_TTL_SECONDS,
  };

  // ---- request metrics --------------------------------------------------------------------
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  // ---- session + authorization ------------------------------------------------------------
  app.addHook('onRequest', async (req, reply) => {
    const auth: AuthMode = req.routeOptions.config?.auth ?? 'optional';
    if (auth === 'none') return;
    req.session = { state: 'none' };
    const raw = req.cookies[SESSION_COOKIE];
    if (raw) {
      const unsigned = req.unsignCookie(raw);
      if (unsigned.valid && unsigned.value) req.session = await sessions.load(unsigned.value);
      if (req.session.state === 'ok') {
        req.user = await repo.findUserById(pool, req.session.userId);
        if (!req.user) req.session = { state: 'none' };
      }
    }
    if (auth === 'optional' || req.user) {
      if (auth === 'admin' && !req.user?.isAdmin) throw Object.assign(new Error('Administrators only.'), { statusCode: 403 });
      return;
    }
    if (req.session.state === 'unavailable') throw new SessionsUnavailableError(undefined);
    if (auth === 'api') {
      return reply.code(401).send({ error: 'unauthorized', message: 'log in first (session cookie missing or expired)' });
    }
    return reply.redirect('/login', 303);
  });

  // JSON API writes must be JSON: a cross-site HTML form cannot send that content type.
  app.addHook('preValidation', async (req, reply) => {
    if (!isApi(req) || !['POST', 'PUT', 'PATCH'].includes(req.method)) return;
    if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
      return reply.code(415).send({ error: 'unsupported_media_type', message: 'send Content-Type: application/json' });
    }
  });

  // ---- errors -------------------------------------------------------------------------------
  const ctx = (req: FastifyRequest, reply: FastifyReply, title: string, extra: { flash?: string; error?: string } = {}) => ({
    user: req.user,
    csrfToken: reply.generateCsrf(),
    title,
    ...extra,
  });
  const page = (reply: FastifyReply, body: Html, status = 200) =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body.value);

  app.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let status = err.statusCode ?? 500;
    if (status < 400 || status > 599) status = 500;
    let message = err.message;
    let code = 'error';
    if (err instanceof ValidationError) code = 'validation_failed';
    else if (err.code?.startsWith('FST_CSRF')) {
      status = 403;
      code = 'csrf_failed';
      message = 'The form was missing or had an invalid CSRF token. Reload the page and try again.';
    } else if (err instanceof SessionsUnavailableError) code = 'sessions_unavailable';
    else if (status === 429) code = 'too_many_requests';
    else if (status === 413) code = 'payload_too_large';
    else if (status === 400 && err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') code = 'invalid_json';
    else if (status >= 500) {
      req.log.error({ err }, 'request failed');
      message = 'Internal error';
    }
    if (isApi(req)) {
      const body: Record<string, unknown> = { error: code, message };
      if (err instanceof ValidationError) body.field = err.field;
      return reply.code(status).send(body);
    }
    req.user ??= null;
    return page(reply, views.errorPage(ctx(req, reply, String(status)), status, message), status);
  });

  app.setNotFoundHandler(async (req, reply) => {
    if (isApi(req)) return reply.code(404).send({ error: 'not_found', message: 'no such resource' });
    req.user ??= null;
    return page(reply, views.errorPage(ctx(req, reply, 'Not found'), 404, 'This page does not exist.'), 404);
  });

  // ---- operational endpoints ----------------------------------------------------------------
  app.get(HEALTH_PATH, { config: { auth: 'none' } }, async () => ({ status: 'ok' }));

  app.get(READY_PATH, { config: { auth: 'none' } }, async (_req, reply) => {
    if (state.shuttingDown) return reply.code(503).send({ status: 'shutting_down' });
    const withTimeout = <T>(p: Promise<T>) =>
      Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 1_000).unref())]);
    const [pgOk, redisOk] = await Promise.all([
      withTimeout(pool.query('SELECT 1')).then(() => true, () => false),
      withTimeout(redis.ping()).then(() => true, () => false),
    ]);
    const body = { status: pgOk && redisOk ? 'ready' : 'not_ready', postgres: pgOk, redis: redisOk };
    return reply.code(pgOk && redisOk ? 200 : 503).send(body);
  });

  app.get(METRICS_PATH, { config: { auth: 'none' } }, async (_req, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.get('/static/app.css', { config: { auth: 'none' } }, async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(views.STYLESHEET),
  );

  // ---- shared write paths -------------------------------------------------------------------
  async function afterWrite(userId: string, dates: string[]) {
    const months = dates.map((d) => d.slice(0, 7));
    await cache.invalidate(userId, months);
    await alerts.check(userId, months);
  }
  async function createExpense(userId: string, input: ExpenseInput): Promise<Expense> {
    const e = await repo.insertExpense(pool, userId, input);
    await afterWrite(userId, [e.date]);
    return e;
  }
  async function patchExpense(userId: string, id: string, patch: ExpensePatch): Promise<Expense | null> {
    const r = await repo.updateExpense(pool, userId, id, patch);
    if (!r) return null;
    await afterWrite(userId, [r.expense.date, r.previousDate]);
    return r.expense;
  }
  async function removeExpense(userId: string, id: string): Promise<boolean> {
    const date = await repo.deleteExpense(pool, userId, id);
    if (!date) return false;
    await cache.invalidate(userId, [date.slice(0, 7)]);
    return true;
  }
  async function summary(userId: string, month: string) {
    const [aggregates, settings] = await Promise.all([
      cache.get(userId, month, () => repo.monthAggregates(pool, userId, month)),
      repo.getSettings(pool, userId),
    ]);
    return { aggregates, settings };
  }
  function parse<T>(
    schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: any } },
    value: unknown,
    fieldName?: string,
  ): T {
    const r = schema.safeParse(value);
    if (!r.success) {
      const { field, message } = firstIssue(r.error);
      throw new ValidationError(fieldName ?? field, message);
    }
    return r.data;
  }
  function monthParam(q: unknown): string {
    const m = (q as Record<string, unknown>)?.month;
    if (m === undefined || m === '') return currentMonth();
    return parse(monthSchema, m, 'month');
  }

  // ---- JSON API -----------------------------------------------------------------------------
  const api = { config: { auth: 'api' as const } };

  app.get('/api/expenses', api, async (req) => {
    const month = (req.query as Record<string, unknown>).month === undefined ? undefined : monthParam(req.query);
    return { expenses: await repo.listExpenses(pool, req.user!.id, { month }) };
  });

  app.post('/api/expenses', api, async (req, reply) => {
    const input = parse(expenseCreateSchema, req.body);
    const e = await createExpense(req.user!.id, input);
    return reply.code(201).header('location', `/api/expenses/${e.id}`).send(e);
  });

  app.get<{ Params: { id: string } }>('/api/expenses/:id', api, async (req, reply) => {
    const e = await repo.getExpense(pool, req.user!.id, req.params.id);
    return e ?? reply.code(404).send({ error: 'not_found', message: 'no such expense' });
  });

  app.patch<{ Params: { id: string } }>('/api/expenses/:id', api, async (req, reply) => {
    if (!repo.isUuid(req.params.id)) return reply.code(404).send({ error: 'not_found', message: 'no such expense' });
    const patch = parse(expensePatchSchema, req.body);
    const e = await patchExpense(req.user!.id, req.params.id, patch);
    return e ?? reply.code(404).send({ error: 'not_found', message: 'no such expense' });
  });

  app.delete<{ Params: { id: string } }>('/api/expenses/:id', api, async (req, reply) => {
    const ok = await removeExpense(req.user!.id, req.params.id);
    return ok ? reply.code(204).send() : reply.code(404).send({ error: 'not_found', message: 'no such expense' });
  });

  app.get('/api/summary', api, async (req) => {
    const month = monthParam(req.query);
    const { aggregates, settings } = await summary(req.user!.id, month);
    const cur = settings.currency;
    const spent = aggregates.totals.find((t) => t.currency === cur)?.totalCents ?? 0;
    const limit = settings.monthlyLimitCents;
    return {
      month,
      currency: cur,
      totalCents: spent,
      count: aggregates.totals.reduce((n, t) => n + t.count, 0),
      totals: aggregates.totals,
      byCategory: aggregates.byCategory.filter((c) => c.currency === cur).map(({ category, totalCents }) => ({ category, totalCents })),
      byDay: aggregates.byDay.filter((d) => d.currency === cur).map(({ date, totalCents }) => ({ date, totalCents })),
      budget:
        limit === null
          ? null
          : { monthlyLimitCents: limit, remainingCents: limit - spent, percentUsed: Math.round((spent * 10_000) / limit) / 100 },
    };
  });

  app.get('/api/budget', api, async (req) => repo.getSettings(pool, req.user!.id));

  app.put('/api/budget', api, async (req) => {
    const input = parse(budgetSchema, req.body);
    const settings = await repo.putSettings(pool, req.user!.id, input);
    await alerts.check(req.user!.id, [currentMonth()]);
    return settings;
  });

  // ---- pages --------------------------------------------------------------------------------
  const csrf = { preHandler: app.csrfProtection };

  app.get('/', async (req, reply) => page(reply, views.landingPage(ctx(req, reply, 'Home'))));
  app.get('/pricing', async (req, reply) => page(reply, views.pricingPage(ctx(req, reply, 'Pricing'))));

  app.get('/register', async (req, reply) => page(reply, views.registerPage(ctx(req, reply, 'Register'))));
  app.post('/register', csrf, async (req, reply) => {
    const email = str(req.body, 'email');
    const r = credentialsSchema.safeParse({ email, password: str(req.body, 'password') });
    if (!r.success) {
      const { field, message } = firstIssue(r.error);
      return page(reply, views.registerPage(ctx(req, reply, 'Register', { error: `${field}: ${message}` }), email), 400);
    }
    const hash = await argon2.hash(r.data.password, ARGON2_OPTIONS);
    const user = await repo.createUser(pool, r.data.email, hash, config.adminEmail);
    if (!user) {
      return page(reply, views.registerPage(ctx(req, reply, 'Register', { error: 'email: an account with this email already exists' }), email), 409);
    }
    req.log.info({ userId: user.id, isAdmin: user.isAdmin }, 'user registered');
    return reply.redirect('/login?registered=1', 303);
  });

  app.get('/login', async (req, reply) => {
    const flash = (req.query as Record<string, string>).registered ? 'Account created. Log in to continue.' : undefined;
    return page(reply, views.loginPage(ctx(req, reply, 'Log in', { flash })));
  });
  app.post(
    '/login',
    {
      ...csrf,
      config: {
        rateLimit: {
          max: loginLimit.max,
          timeWindow: loginLimit.timeWindowMs,
          hook: 'preHandler',
          keyGenerator: (req: FastifyRequest) => `login:${str(req.body, 'email').trim().toLowerCase()}`,
          errorResponseBuilder: (_req: FastifyRequest, c: { after: string }) =>
            Object.assign(new Error(`Too many login attempts for this account. Try again in ${c.after}.`), { statusCode: 429 }),
        },
      },
    },
    async (req, reply) => {
      const email = str(req.body, 'email').trim().toLowerCase();
      const password = str(req.body, 'password');
      if (redis.status !== 'ready') throw new SessionsUnavailableError(undefined);
      const user = email ? await repo.findUserByEmail(pool, email) : null;
      const ok = await argon2.verify(user?.passwordHash ?? dummyHash, password).catch(() => false);
      if (!user || !ok) {
        req.log.info('login failed');
        return page(reply, views.loginPage(ctx(req, reply, 'Log in', { error: 'Invalid email or password.' }), email), 401);
      }
      const sid = await sessions.create(user.id);
      if (req.session.state === 'ok') await sessions.destroy(req.session.sessionId);
      reply.setCookie(SESSION_COOKIE, sid, cookieOptions);
      req.log.info({ userId: user.id }, 'user logged in');
      return reply.redirect('/dashboard', 303);
    },
  );

  app.post('/logout', csrf, async (req, reply) => {
    if (req.session.state === 'ok') await sessions.destroy(req.session.sessionId);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/', 303);
  });

  const pageAuth = { config: { auth: 'page' as const } };

  app.get('/dashboard', pageAuth, async (req, reply) => {
    const month = monthParam(req.query);
    const userId = req.user!.id;
    const [{ aggregates, settings }, recent] = await Promise.all([summary(userId, month), repo.listExpenses(pool, userId, { month, limit: 5 })]);
    return page(reply, views.dashboardPage(ctx(req, reply, 'Dashboard'), { month, settings, aggregates, recent }));
  });

  const today = () => new Date().toISOString().slice(0, 10);
  /** Converts the add/edit form into API input; decimal amount -> minor units of the currency. */
  function formToExpense(body: unknown): ExpenseInput {
    const currency = str(body, 'currency').trim().toUpperCase();
    if (!isCurrency(currency)) throw new ValidationError('currency', 'must be a known ISO 4217 currency code (e.g. USD)');
    const cents = parseDecimalAmount(str(body, 'amount'), currency);
    if (cents === undefined || cents <= 0) throw new ValidationError('amount', `must be a positive amount like 12.50 in ${currency}`);
    return parse(expenseCreateSchema, {
      amountCents: cents,
      currency,
      category: str(body, 'category'),
      description: str(body, 'description'),
      date: str(body, 'date'),
    });
  }
  const formValues = (body: unknown) => ({
    amount: str(body, 'amount'),
    currency: str(body, 'currency'),
    category: str(body, 'category'),
    description: str(body, 'description'),
    date: str(body, 'date'),
  });

  async function expensesView(req: FastifyRequest, reply: FastifyReply, month: string, extra: { flash?: string; error?: string }, form?: views.ExpenseFormValues, status = 200) {
    const [rows, settings] = await Promise.all([repo.listExpenses(pool, req.user!.id, { month }), repo.getSettings(pool, req.user!.id)]);
    const values = form ?? { amount: '', currency: settings.currency, category: '', description: '', date: today() };
    return page(reply, views.expensesPage(ctx(req, reply, 'Expenses', extra), month, rows, values), status);
  }

  app.get('/expenses', pageAuth, async (req, reply) => {
    const flash = (req.query as Record<string, string>).saved ? 'Saved.' : undefined;
    return expensesView(req, reply, monthParam(req.query), { flash });
  });

  app.post('/expenses', { ...pageAuth, ...csrf }, async (req, reply) => {
    let input: ExpenseInput;
    try {
      input = formToExpense(req.body);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return expensesView(req, reply, currentMonth(), { error: err.message }, formValues(req.body), 400);
    }
    const e = await createExpense(req.user!.id, input);
    return reply.redirect(`/expenses?month=${e.date.slice(0, 7)}&saved=1`, 303);
  });

  app.get<{ Params: { id: string } }>('/expenses/:id/edit', pageAuth, async (req, reply) => {
    const e = await repo.getExpense(pool, req.user!.id, req.params.id);
    if (!e) return reply.callNotFound();
    return page(reply, views.editExpensePage(ctx(req, reply, 'Edit expense'), e.id, views.expenseToForm(e)));
  });

  app.post<{ Params: { id: string } }>('/expenses/:id', { ...pageAuth, ...csrf }, async (req, reply) => {
    let input: ExpenseInput;
    try {
      input = formToExpense(req.body);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      if (!(await repo.getExpense(pool, req.user!.id, req.params.id))) return reply.callNotFound();
      return page(reply, views.editExpensePage(ctx(req, reply, 'Edit expense', { error: err.message }), req.params.id, formValues(req.body)), 400);
    }
    const e = await patchExpense(req.user!.id, req.params.id, input);
    if (!e) return reply.callNotFound();
    return reply.redirect(`/expenses?month=${e.date.slice(0, 7)}&saved=1`, 303);
  });

  app.post<{ Params: { id: string } }>('/expenses/:id/delete', { ...pageAuth, ...csrf }, async (req, reply) => {
    const e = await repo.getExpense(pool, req.user!.id, req.params.id);
    if (!e || !(await removeExpense(req.user!.id, req.params.id))) return reply.callNotFound();
    return reply.redirect(`/expenses?month=${e.date.slice(0, 7)}&saved=1`, 303);
  });

  app.get('/settings', pageAuth, async (req, reply) => {
    const s = await repo.getSettings(pool, req.user!.id);
    const flash = (req.query as Record<string, string>).saved ? 'Settings saved.' : undefined;
    return page(
      reply,
      views.settingsPage(ctx(req, reply, 'Settings', { flash }), {
        limit: s.monthlyLimitCents === null ? '' : centsToDecimal(s.monthlyLimitCents, s.currency),
        currency: s.currency,
        alertEmail: s.alertEmail ?? '',
      }),
    );
  });

  app.post('/settings', { ...pageAuth, ...csrf }, async (req, reply) => {
    const values = { limit: str(req.body, 'limit'), currency: str(req.body, 'currency'), alertEmail: str(req.body, 'alertEmail') };
    try {
      const currency = values.currency.trim().toUpperCase();
      if (!isCurrency(currency)) throw new ValidationError('currency', 'must be a known ISO 4217 currency code (e.g. USD)');
      let limit: number | null = null;
      if (values.limit.trim() !== '') {
        const cents = parseDecimalAmount(values.limit, currency);
        if (cents === undefined || cents <= 0) throw new ValidationError('limit', `must be a positive amount like 500.00 in ${currency}`);
        limit = cents;
      }
      const input = parse(budgetSchema, { monthlyLimitCents: limit, currency, alertEmail: values.alertEmail.trim() });
      await repo.putSettings(pool, req.user!.id, input);
      await alerts.check(req.user!.id, [currentMonth()]);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return page(reply, views.settingsPage(ctx(req, reply, 'Settings', { error: err.message }), values), 400);
    }
    return reply.redirect('/settings?saved=1', 303);
  });

  app.get('/customers', { config: { auth: 'admin' } }, async (req, reply) => {
    return page(reply, views.customersPage(ctx(req, reply, 'Customers'), await repo.listCustomers(pool)));
  });

  app.addHook('onClose', async () => {
    await alerts.stop();
  });

  return { app, state, alerts, metrics };
}

