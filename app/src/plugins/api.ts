/**
 * The JSON API, registered under the `/api` prefix. Its hooks: a session is required (401
 * `{error:'unauthorized'}` otherwise), writes must be `Content-Type: application/json` (415: a
 * cross-site HTML form cannot send that), and errors and unknown paths answer JSON
 * `{error, message[, field]}` instead of the HTML pages of the rest of the app.
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import type { BudgetAlerts } from '../alerts.js';
import type { ExpenseService } from '../expenses.js';
import * as repo from '../repo.js';
import { budgetSchema, currentMonth, expenseCreateSchema, expensePatchSchema, monthParam, parseInput } from '../validation.js';
import { describeError } from './errors.js';
import { hasUser } from './session.js';

export interface ApiPluginOptions {
  pool: pg.Pool;
  expenses: ExpenseService;
  alerts: BudgetAlerts;
}

const notFound = { error: 'not_found', message: 'no such expense' };

const apiPlugin: FastifyPluginAsync<ApiPluginOptions> = async (app, { pool, expenses, alerts }) => {
  app.addHook('onRequest', async (req, reply) => {
    if (req.is404) return; // unknown paths answer 404 whether or not a session exists
    if (!hasUser(req)) return reply.code(401).send({ error: 'unauthorized', message: 'log in first (session cookie missing or expired)' });
  });

  app.addHook('preValidation', async (req, reply) => {
    if (!['POST', 'PUT', 'PATCH'].includes(req.method)) return;
    if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
      return reply.code(415).send({ error: 'unsupported_media_type', message: 'send Content-Type: application/json' });
    }
  });

  app.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const { status, code, message, field } = describeError(err, req);
    return reply.code(status).send({ error: code, message, ...(field === undefined ? {} : { field }) });
  });

  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send({ error: 'not_found', message: 'no such resource' }));

  app.get('/expenses', async (req) => {
    const month = (req.query as Record<string, unknown>).month === undefined ? undefined : monthParam(req.query);
    return { expenses: await repo.listExpenses(pool, req.user!.id, { month }) };
  });

  app.post('/expenses', async (req, reply) => {
    const e = await expenses.create(req.user!.id, parseInput(expenseCreateSchema, req.body));
    return reply.code(201).header('location', `/api/expenses/${e.id}`).send(e);
  });

  app.get<{ Params: { id: string } }>('/expenses/:id', async (req, reply) => {
    const e = await repo.getExpense(pool, req.user!.id, req.params.id);
    return e ?? reply.code(404).send(notFound);
  });

  app.patch<{ Params: { id: string } }>('/expenses/:id', async (req, reply) => {
    if (!repo.isUuid(req.params.id)) return reply.code(404).send(notFound);
    const e = await expenses.patch(req.user!.id, req.params.id, parseInput(expensePatchSchema, req.body));
    return e ?? reply.code(404).send(notFound);
  });

  app.delete<{ Params: { id: string } }>('/expenses/:id', async (req, reply) => {
    const ok = await expenses.remove(req.user!.id, req.params.id);
    return ok ? reply.code(204).send() : reply.code(404).send(notFound);
  });

  app.get('/summary', async (req) => {
    const month = monthParam(req.query);
    const { aggregates, settings } = await expenses.summary(req.user!.id, month);
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

  app.get('/budget', async (req) => repo.getSettings(pool, req.user!.id));

  app.put('/budget', async (req) => {
    const settings = await repo.putSettings(pool, req.user!.id, parseInput(budgetSchema, req.body));
    await alerts.check(req.user!.id, [currentMonth()]);
    return settings;
  });
};

export default apiPlugin;
