/**
 * Server-rendered pages: public pages, registration/login/logout, the dashboard, expenses and
 * settings. Its hook: routes marked `config.auth: 'user'` redirect anonymous visitors to /login
 * (303). Every form is CSRF-protected; validation failures re-render the form with a 400.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import argon2 from 'argon2';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { BudgetAlerts } from '../alerts.js';
import type { ExpenseService } from '../expenses.js';
import { SESSION_COOKIE, SESSION_TTL_SECONDS, SessionsUnavailableError, type SessionStore } from '../sessions.js';
import * as repo from '../repo.js';
import * as views from '../views.js';
import { centsToDecimal, isCurrency, parseDecimalAmount } from '../money.js';
import {
  budgetSchema,
  credentialsSchema,
  currentMonth,
  expenseCreateSchema,
  firstIssue,
  formString as str,
  monthParam,
  parseInput,
  ValidationError,
  type ExpenseInput,
} from '../validation.js';
import { pageContext as ctx } from './html.js';
import { hasUser } from './session.js';

/** OWASP-recommended argon2id cost (19 MiB, 2 passes, 1 lane). */
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export interface PagesPluginOptions {
  config: Config;
  pool: pg.Pool;
  redis: Redis;
  sessions: SessionStore;
  expenses: ExpenseService;
  alerts: BudgetAlerts;
  /** Login attempts allowed per email per window. */
  loginRateLimit: { max: number; timeWindowMs: number };
}

const pagesPlugin: FastifyPluginAsync<PagesPluginOptions> = async (app, opts) => {
  const { config, pool, redis, sessions, expenses, alerts, loginRateLimit } = opts;
  // Verified against when the email is unknown, so both cases cost the same time.
  const dummyHash = await argon2.hash('not-a-real-password', ARGON2_OPTIONS);
  const cookieOptions = {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: config.secureCookies,
    path: '/',
    signed: true,
    maxAge: SESSION_TTL_SECONDS,
  };

  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config?.auth === 'user' && !hasUser(req)) return reply.redirect('/login', 303);
  });

  const csrf = { preHandler: app.csrfProtection };
  const user = { config: { auth: 'user' as const } };

  app.get('/static/app.css', { config: { auth: 'none' } }, async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(views.STYLESHEET),
  );

  // ---- public pages and authentication ------------------------------------------------------
  app.get('/', async (req, reply) => reply.page(views.landingPage(ctx(req, reply, 'Home'))));
  app.get('/pricing', async (req, reply) => reply.page(views.pricingPage(ctx(req, reply, 'Pricing'))));

  app.get('/register', async (req, reply) => reply.page(views.registerPage(ctx(req, reply, 'Register'))));
  app.post('/register', csrf, async (req, reply) => {
    const email = str(req.body, 'email');
    const r = credentialsSchema.safeParse({ email, password: str(req.body, 'password') });
    if (!r.success) {
      const { field, message } = firstIssue(r.error);
      return reply.page(views.registerPage(ctx(req, reply, 'Register', { error: `${field}: ${message}` }), email), 400);
    }
    const hash = await argon2.hash(r.data.password, ARGON2_OPTIONS);
    const created = await repo.createUser(pool, r.data.email, hash, config.adminEmail);
    if (!created) {
      return reply.page(views.registerPage(ctx(req, reply, 'Register', { error: 'email: an account with this email already exists' }), email), 409);
    }
    req.log.info({ userId: created.id, isAdmin: created.isAdmin }, 'user registered');
    return reply.redirect('/login?registered=1', 303);
  });

  app.get('/login', async (req, reply) => {
    const flash = (req.query as Record<string, string>).registered ? 'Account created. Log in to continue.' : undefined;
    return reply.page(views.loginPage(ctx(req, reply, 'Log in', { flash })));
  });
  app.post(
    '/login',
    {
      ...csrf,
      config: {
        rateLimit: {
          max: loginRateLimit.max,
          timeWindow: loginRateLimit.timeWindowMs,
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
      const found = email ? await repo.findUserByEmail(pool, email) : null;
      const ok = await argon2.verify(found?.passwordHash ?? dummyHash, password).catch(() => false);
      if (!found || !ok) {
        req.log.info('login failed');
        return reply.page(views.loginPage(ctx(req, reply, 'Log in', { error: 'Invalid email or password.' }), email), 401);
      }
      const sid = await sessions.create(found.id);
      if (req.session.state === 'ok') await sessions.destroy(req.session.sessionId);
      reply.setCookie(SESSION_COOKIE, sid, cookieOptions);
      req.log.info({ userId: found.id }, 'user logged in');
      return reply.redirect('/dashboard', 303);
    },
  );

  app.post('/logout', csrf, async (req, reply) => {
    if (req.session.state === 'ok') await sessions.destroy(req.session.sessionId);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/', 303);
  });

  // ---- dashboard and expenses -----------------------------------------------------------------
  app.get('/dashboard', user, async (req, reply) => {
    const month = monthParam(req.query);
    const userId = req.user!.id;
    const [{ aggregates, settings }, recent] = await Promise.all([
      expenses.summary(userId, month),
      repo.listExpenses(pool, userId, { month, limit: 5 }),
    ]);
    return reply.page(views.dashboardPage(ctx(req, reply, 'Dashboard'), { month, settings, aggregates, recent }));
  });

  const today = () => new Date().toISOString().slice(0, 10);
  /** Converts the add/edit form into API input; decimal amount -> minor units of the currency. */
  function formToExpense(body: unknown): ExpenseInput {
    const currency = str(body, 'currency').trim().toUpperCase();
    if (!isCurrency(currency)) throw new ValidationError('currency', 'must be a known ISO 4217 currency code (e.g. USD)');
    const cents = parseDecimalAmount(str(body, 'amount'), currency);
    if (cents === undefined || cents <= 0) throw new ValidationError('amount', `must be a positive amount like 12.50 in ${currency}`);
    return parseInput(expenseCreateSchema, {
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

  async function expensesView(
    req: FastifyRequest,
    reply: FastifyReply,
    month: string,
    extra: { flash?: string; error?: string },
    form?: views.ExpenseFormValues,
    status = 200,
  ) {
    const [rows, settings] = await Promise.all([repo.listExpenses(pool, req.user!.id, { month }), repo.getSettings(pool, req.user!.id)]);
    const values = form ?? { amount: '', currency: settings.currency, category: '', description: '', date: today() };
    return reply.page(views.expensesPage(ctx(req, reply, 'Expenses', extra), month, rows, values), status);
  }

  app.get('/expenses', user, async (req, reply) => {
    const flash = (req.query as Record<string, string>).saved ? 'Saved.' : undefined;
    return expensesView(req, reply, monthParam(req.query), { flash });
  });

  app.post('/expenses', { ...user, ...csrf }, async (req, reply) => {
    let input: ExpenseInput;
    try {
      input = formToExpense(req.body);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return expensesView(req, reply, currentMonth(), { error: err.message }, formValues(req.body), 400);
    }
    const e = await expenses.create(req.user!.id, input);
    return reply.redirect(`/expenses?month=${e.date.slice(0, 7)}&saved=1`, 303);
  });

  app.get<{ Params: { id: string } }>('/expenses/:id/edit', user, async (req, reply) => {
    const e = await repo.getExpense(pool, req.user!.id, req.params.id);
    if (!e) return reply.callNotFound();
    return reply.page(views.editExpensePage(ctx(req, reply, 'Edit expense'), e.id, views.expenseToForm(e)));
  });

  app.post<{ Params: { id: string } }>('/expenses/:id', { ...user, ...csrf }, async (req, reply) => {
    let input: ExpenseInput;
    try {
      input = formToExpense(req.body);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      if (!(await repo.getExpense(pool, req.user!.id, req.params.id))) return reply.callNotFound();
      return reply.page(
        views.editExpensePage(ctx(req, reply, 'Edit expense', { error: err.message }), req.params.id, formValues(req.body)),
        400,
      );
    }
    const e = await expenses.patch(req.user!.id, req.params.id, input);
    if (!e) return reply.callNotFound();
    return reply.redirect(`/expenses?month=${e.date.slice(0, 7)}&saved=1`, 303);
  });

  app.post<{ Params: { id: string } }>('/expenses/:id/delete', { ...user, ...csrf }, async (req, reply) => {
    const e = await repo.getExpense(pool, req.user!.id, req.params.id);
    if (!e || !(await expenses.remove(req.user!.id, req.params.id))) return reply.callNotFound();
    return reply.redirect(`/expenses?month=${e.date.slice(0, 7)}&saved=1`, 303);
  });

  // ---- settings -------------------------------------------------------------------------------
  app.get('/settings', user, async (req, reply) => {
    const s = await repo.getSettings(pool, req.user!.id);
    const flash = (req.query as Record<string, string>).saved ? 'Settings saved.' : undefined;
    return reply.page(
      views.settingsPage(ctx(req, reply, 'Settings', { flash }), {
        limit: s.monthlyLimitCents === null ? '' : centsToDecimal(s.monthlyLimitCents, s.currency),
        currency: s.currency,
        alertEmail: s.alertEmail ?? '',
      }),
    );
  });

  app.post('/settings', { ...user, ...csrf }, async (req, reply) => {
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
      const input = parseInput(budgetSchema, { monthlyLimitCents: limit, currency, alertEmail: values.alertEmail.trim() });
      await repo.putSettings(pool, req.user!.id, input);
      await alerts.check(req.user!.id, [currentMonth()]);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return reply.page(views.settingsPage(ctx(req, reply, 'Settings', { error: err.message }), values), 400);
    }
    return reply.redirect('/settings?saved=1', 303);
  });
};

export default pagesPlugin;
