/**
 * The JSON API, registered under the `/api` prefix. Its hooks: a session is required (401
 * `{error:'unauthorized'}` otherwise), writes must be `Content-Type: application/json` (415: a
 * cross-site HTML form cannot send that), and errors and unknown paths answer JSON
 * `{error, message[, field]}` (with `Retry-After` on 503 and 429) instead of HTML pages.
 *
 * Lists are paginated (`page`, 1-based, and `limit`, default 50, at most 200): the body carries
 * `page`, `limit` and `total`, and a `Link` header (RFC 8288) gives `first`, `prev`, `next` and
 * `last`; a `limit` above the maximum is a 400, never a silently shorter list.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type pg from 'pg';
import type { BudgetAlerts } from '../alerts.js';
import type { Accounts } from '../accounts.js';
import type { ExpenseService } from '../expenses.js';
import * as repo from '../repo.js';
import { monthIn } from '../calendar.js';
import {
  budgetSchema,
  expenseCreateSchema,
  expensePatchSchema,
  monthParam,
  pageParams,
  parseInput,
  timeZoneSchema,
} from '../validation.js';
import { z } from 'zod';
import { applyErrorHeaders, describeError } from './errors.js';
import { hasUser } from './session.js';

export interface ApiPluginOptions {
  pool: pg.Pool;
  expenses: ExpenseService;
  alerts: BudgetAlerts;
  accounts: Accounts;
  /** PUBLIC_BASE_URL: `Link` header URLs are absolute. */
  publicBaseUrl: string;
}

const notFound = { error: 'not_found', message: 'no such expense' };
const accountSchema = z.strictObject({ timeZone: timeZoneSchema });

/** Sets `Link` (first/prev/next/last) and `X-Total-Count` for a page of `path` with `query`. */
function paginate(reply: FastifyReply, base: string, query: Record<string, string>, p: repo.Page<unknown>): void {
  const last = Math.max(1, Math.ceil(p.total / p.limit));
  const url = (page: number) => `${base}?${new URLSearchParams({ ...query, page: String(page), limit: String(p.limit) })}`;
  const links = [`<${url(1)}>; rel="first"`];
  if (p.page > 1) links.push(`<${url(Math.min(p.page - 1, last))}>; rel="prev"`);
  if (p.page < last) links.push(`<${url(p.page + 1)}>; rel="next"`);
  links.push(`<${url(last)}>; rel="last"`);
  reply.header('link', links.join(', ')).header('x-total-count', String(p.total));
}

const apiPlugin: FastifyPluginAsync<ApiPluginOptions> = async (app, { pool, expenses, alerts, accounts, publicBaseUrl }) => {
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
    const answer = describeError(err, req);
    applyErrorHeaders(reply, answer);
    const { status, code, message, field } = answer;
    return reply.code(status).send({ error: code, message, ...(field === undefined ? {} : { field }) });
  });

  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send({ error: 'not_found', message: 'no such resource' }));

  app.get('/expenses', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const month = q.month === undefined ? undefined : monthParam(q, '');
    const { page, limit } = pageParams(q, 50);
    const result = await repo.listExpenses(pool, req.user!.id, { month, page, limit });
    paginate(reply, `${publicBaseUrl}/api/expenses`, month ? { month } : {}, result);
    return { expenses: result.items, page, limit, total: result.total };
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
    const u = req.user!;
    const month = monthParam(req.query, monthIn(u.timeZone));
    const { aggregates, settings } = await expenses.summary(u.id, month);
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
      lastMonths: await expenses.lastMonths(u.id, month, cur),
      budget:
        limit === null
          ? null
          : { monthlyLimitCents: limit, remainingCents: limit - spent, percentUsed: Math.round((spent * 10_000) / limit) / 100 },
    };
  });

  app.get('/budget', async (req) => {
    const { generation: _g, ...settings } = await repo.getSettings(pool, req.user!.id);
    return settings;
  });

  app.put('/budget', async (req) => {
    const u = req.user!;
    const input = parseInput(budgetSchema, req.body);
    const { settings, alertEmailChanged } = await repo.putSettings(pool, u.id, input);
    if (alertEmailChanged && input.alertEmail) await accounts.alertEmailChanged(u, input.alertEmail);
    await alerts.check(u.id, alerts.alertableMonths(u.timeZone));
    return settings;
  });

  app.get('/account', async (req) => {
    const { email, emailVerified, timeZone, isAdmin } = req.user!;
    return { email, emailVerified, timeZone, isAdmin };
  });

  app.put('/account', async (req) => {
    const { timeZone } = parseInput(accountSchema, req.body);
    await repo.setTimeZone(pool, req.user!.id, timeZone);
    const { email, emailVerified, isAdmin } = req.user!;
    return { email, emailVerified, timeZone, isAdmin };
  });
};

export default apiPlugin;
