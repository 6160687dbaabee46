/**
 * Server-rendered pages: public pages and static assets (no database needed), the dashboard,
 * expenses (paginated, CSV export) and settings. Its hook: routes marked `config.auth: 'user'`
 * redirect anonymous visitors to /login (303). Every form is CSRF-protected; validation failures
 * re-render the form with a 400 naming the field. "This month" and "today" follow the user's
 * time zone.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { stringify } from 'csv-stringify';
import type pg from 'pg';
import type { BudgetAlerts } from '../alerts.js';
import type { Accounts } from '../accounts.js';
import type { ExpenseService } from '../expenses.js';
import * as repo from '../repo.js';
import { centsToDecimal, isCurrency, parseDecimalAmount } from '../money.js';
import { dateIn, monthIn } from '../calendar.js';
import { SCRIPT, STYLESHEET } from '../views/layout.js';
import { landingPage, pricingPage } from '../views/public.js';
import { dashboardPage } from '../views/dashboard.js';
import { editExpensePage, expensesPage, expenseToForm, type ExpenseFormValues } from '../views/expenses.js';
import { settingsPage, type SettingsFormValues } from '../views/settings.js';
import {
  budgetSchema,
  expenseCreateSchema,
  formString as str,
  monthParam,
  monthSchema,
  pageParams,
  parseInput,
  timeZoneSchema,
  ValidationError,
  type ExpenseInput,
} from '../validation.js';
import { pageContext as ctx } from './html.js';
import { redirectAnonymous } from './session.js';

export interface PagesPluginOptions {
  pool: pg.Pool;
  expenses: ExpenseService;
  alerts: BudgetAlerts;
  accounts: Accounts;
}

/** Rows per page of the expense list. */
const EXPENSES_PER_PAGE = 50;

/** Prefixes a spreadsheet would read as a formula (OWASP "CSV injection"); such cells get a leading `'`. */
const FORMULA_START = /^[=+\-@\t\r]/;
const csvText = (s: string) => (FORMULA_START.test(s) ? `'${s}` : s);

const pagesPlugin: FastifyPluginAsync<PagesPluginOptions> = async (app, { pool, expenses, alerts, accounts }) => {
  app.addHook('onRequest', redirectAnonymous);

  const csrf = { preHandler: app.csrfProtection };
  const user = { config: { auth: 'user' as const } };
  const asset = (type: string, body: string) => async (_req: FastifyRequest, reply: FastifyReply) =>
    reply.type(type).header('cache-control', 'public, max-age=3600').send(body);

  app.get('/static/app.css', { config: { auth: 'none' } }, asset('text/css; charset=utf-8', STYLESHEET));
  app.get('/static/app.js', { config: { auth: 'none' } }, asset('text/javascript; charset=utf-8', SCRIPT));

  app.get('/', async (req, reply) => {
    const flash = (req.query as Record<string, unknown>).deleted === '1' ? 'Your account and all its data were deleted.' : undefined;
    return reply.page(landingPage(ctx(req, reply, 'Home', { flash })));
  });
  app.get('/pricing', async (req, reply) => reply.page(pricingPage(ctx(req, reply, 'Pricing'))));

  // ---- dashboard --------------------------------------------------------------------------------
  app.get('/dashboard', user, async (req, reply) => {
    const u = req.user!;
    const currentMonth = monthIn(u.timeZone);
    const month = monthParam(req.query, currentMonth);
    const [{ aggregates, settings }, recent] = await Promise.all([
      expenses.summary(u.id, month),
      repo.recentExpenses(pool, u.id, month, 5),
    ]);
    const lastMonths = await expenses.lastMonths(u.id, month, settings.currency);
    return reply.page(dashboardPage(ctx(req, reply, 'Dashboard'), { month, currentMonth, settings, aggregates, lastMonths, recent }));
  });

  // ---- expenses ---------------------------------------------------------------------------------
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
  const formValues = (body: unknown): ExpenseFormValues => ({
    amount: str(body, 'amount'),
    currency: str(body, 'currency'),
    category: str(body, 'category'),
    description: str(body, 'description'),
    date: str(body, 'date'),
  });

  async function expensesView(
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { flash?: string; error?: string },
    form?: ExpenseFormValues,
    status = 200,
  ) {
    const u = req.user!;
    const month = monthParam(req.query, monthIn(u.timeZone));
    const { page, limit } = pageParams(req.query, EXPENSES_PER_PAGE);
    const [rows, settings] = await Promise.all([repo.listExpenses(pool, u.id, { month, page, limit }), repo.getSettings(pool, u.id)]);
    const values = form ?? { amount: '', currency: settings.currency, category: '', description: '', date: dateIn(u.timeZone) };
    return reply.page(expensesPage(ctx(req, reply, 'Expenses', extra), month, rows, values), status);
  }

  app.get('/expenses', user, async (req, reply) => {
    const flash = (req.query as Record<string, string>).saved ? 'Saved.' : undefined;
    return expensesView(req, reply, { flash });
  });

  app.post('/expenses', { ...user, ...csrf }, async (req, reply) => {
    let input: ExpenseInput;
    try {
      input = formToExpense(req.body);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return expensesView(req, reply, { error: err.message }, formValues(req.body), 400);
    }
    const e = await expenses.create(req.user!.id, input);
    return reply.redirect(`/expenses?month=${e.date.slice(0, 7)}&saved=1`, 303);
  });

  app.get<{ Querystring: { month?: string } }>('/expenses/export', user, async (req, reply) => {
    const u = req.user!;
    const all = req.query.month === 'all';
    const month = all ? undefined : parseInput(monthSchema, req.query.month ?? monthIn(u.timeZone), 'month');
    const batches = repo.expenseBatches(pool, u.id, month);
    // The first batch is read before any byte is sent, so a database outage is still a clean 503.
    const first = await batches.next();
    const csv = stringify({
      header: true,
      bom: true,
      columns: ['date', 'amount', 'currency', 'category', 'description', 'id', 'created_at'],
    });
    const write = (e: repo.Expense) =>
      csv.write([e.date, centsToDecimal(e.amountCents, e.currency), e.currency, csvText(e.category), csvText(e.description), e.id, e.createdAt]);
    void (async () => {
      try {
        for (let r = first; !r.done; r = await batches.next()) {
          for (const e of r.value) if (!write(e)) await new Promise((resolve) => csv.once('drain', resolve));
        }
        csv.end();
      } catch (err) {
        // Abort the transfer so the client sees a broken download, never a silently short file.
        req.log.error({ err }, 'CSV export failed mid-stream');
        csv.destroy(err as Error);
      }
    })();
    return reply
      .type('text/csv; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-disposition', `attachment; filename="expenses-${month ?? 'all'}.csv"`)
      .send(csv);
  });

  app.get<{ Params: { id: string } }>('/expenses/:id/edit', user, async (req, reply) => {
    const e = await repo.getExpense(pool, req.user!.id, req.params.id);
    if (!e) return reply.callNotFound();
    return reply.page(editExpensePage(ctx(req, reply, 'Edit expense'), e.id, expenseToForm(e)));
  });

  app.post<{ Params: { id: string } }>('/expenses/:id', { ...user, ...csrf }, async (req, reply) => {
    let input: ExpenseInput;
    try {
      input = formToExpense(req.body);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      if (!(await repo.getExpense(pool, req.user!.id, req.params.id))) return reply.callNotFound();
      return reply.page(editExpensePage(ctx(req, reply, 'Edit expense', { error: err.message }), req.params.id, formValues(req.body)), 400);
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

  // ---- settings -----------------------------------------------------------------------------------
  const alertStatus = (s: repo.Settings, u: repo.User) => {
    const to = s.alertEmail ?? u.email;
    const verified = to === u.email ? u.emailVerified : s.alertEmailVerified;
    return `${to}: ${verified ? 'verified' : 'not verified yet, see Account'}`;
  };

  app.get('/settings', user, async (req, reply) => {
    const u = req.user!;
    const s = await repo.getSettings(pool, u.id);
    const flash = (req.query as Record<string, string>).saved ? 'Settings saved.' : undefined;
    const values: SettingsFormValues = {
      limit: s.monthlyLimitCents === null ? '' : centsToDecimal(s.monthlyLimitCents, s.currency),
      currency: s.currency,
      alertEmail: s.alertEmail ?? '',
      timeZone: u.timeZone,
    };
    return reply.page(settingsPage(ctx(req, reply, 'Settings', { flash }), values, alertStatus(s, u)));
  });

  app.post('/settings', { ...user, ...csrf }, async (req, reply) => {
    const u = req.user!;
    const values: SettingsFormValues = {
      limit: str(req.body, 'limit'),
      currency: str(req.body, 'currency'),
      alertEmail: str(req.body, 'alertEmail'),
      timeZone: str(req.body, 'timeZone') || u.timeZone,
    };
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
      const timeZone = parseInput(timeZoneSchema, values.timeZone, 'timeZone');
      await repo.setTimeZone(pool, u.id, timeZone);
      const { alertEmailChanged } = await repo.putSettings(pool, u.id, input);
      if (alertEmailChanged && input.alertEmail) await accounts.alertEmailChanged(u, input.alertEmail);
      await alerts.check(u.id, alerts.alertableMonths(timeZone));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const s = await repo.getSettings(pool, u.id);
      return reply.page(settingsPage(ctx(req, reply, 'Settings', { error: err.message }), values, alertStatus(s, u)), 400);
    }
    return reply.redirect('/settings?saved=1', 303);
  });
};

export default pagesPlugin;
