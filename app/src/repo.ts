/**
 * SQL data access. Every statement is parameterized (`$1`...), and every expense query is scoped
 * by `user_id`, so one user's id can never reach another user's rows: a foreign id simply matches
 * nothing (the API then answers 404).
 */
import type pg from 'pg';
import type { BudgetInput, ExpenseInput, ExpensePatch } from './validation.js';
import { monthRange } from './validation.js';

export interface User {
  id: string;
  email: string;
  isAdmin: boolean;
  /** The account email has been confirmed through an emailed link. */
  emailVerified: boolean;
  /** IANA time zone the user's "today" and "this month" follow. */
  timeZone: string;
}

export interface Expense {
  id: string;
  amountCents: number;
  currency: string;
  category: string;
  description: string;
  /** ISO date `YYYY-MM-DD`. */
  date: string;
  createdAt: string;
  updatedAt: string;
}

export interface Settings {
  monthlyLimitCents: number | null;
  currency: string;
  alertEmail: string | null;
  /** The alert email has been confirmed through an emailed link (false when there is none). */
  alertEmailVerified: boolean;
}

/** One page of a longer list: `page` is 1-based; `total` counts every row of the list. */
export interface Page<T> {
  items: T[];
  page: number;
  limit: number;
  total: number;
}

/** Per-currency aggregates of one user's month (what the dashboard cache stores). */
export interface MonthAggregates {
  month: string;
  totals: { currency: string; totalCents: number; count: number }[];
  byCategory: { currency: string; category: string; totalCents: number }[];
  byDay: { currency: string; date: string; totalCents: number }[];
}

type Queryable = pg.Pool | pg.PoolClient;

/** Columns of `users` that make a {@link User} (see {@link toUser}). */
export const USER_COLUMNS = ['id', 'email', 'is_admin', 'email_verified_at', 'time_zone'] as const;

export function toUser(r: Record<string, unknown>): User {
  return {
    id: r.id as string,
    email: r.email as string,
    isAdmin: r.is_admin as boolean,
    emailVerified: r.email_verified_at !== null,
    timeZone: r.time_zone as string,
  };
}
const USER_SELECT = USER_COLUMNS.join(', ');

const EXPENSE_COLUMNS = `id, amount_cents::float8 AS amount_cents, currency, category, description,
  to_char(spent_on, 'YYYY-MM-DD') AS date, created_at, updated_at`;

function toExpense(r: Record<string, unknown>): Expense {
  return {
    id: r.id as string,
    amountCents: Number(r.amount_cents),
    currency: (r.currency as string).trim(),
    category: r.category as string,
    description: r.description as string,
    date: r.date as string,
    createdAt: (r.created_at as Date).toISOString(),
    updatedAt: (r.updated_at as Date).toISOString(),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** True when `id` has UUID syntax (anything else cannot exist and is answered with 404). */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}

/**
 * Inserts a user (never an administrator: the admin role needs a verified email, see
 * `accounts.ts`). Returns `null` when the email is already registered.
 */
export async function createUser(db: Queryable, email: string, passwordHash: string, timeZone: string): Promise<User | null> {
  const res = await db.query(
    `INSERT INTO users (email, password_hash, time_zone) VALUES ($1, $2, $3)
     ON CONFLICT (email) DO NOTHING RETURNING ${USER_SELECT}`,
    [email, passwordHash, timeZone],
  );
  return res.rows[0] ? toUser(res.rows[0]) : null;
}

export async function findUserByEmail(db: Queryable, email: string): Promise<(User & { passwordHash: string }) | null> {
  const res = await db.query(`SELECT ${USER_SELECT}, password_hash FROM users WHERE email = $1`, [email]);
  const r = res.rows[0];
  return r ? { ...toUser(r), passwordHash: r.password_hash } : null;
}

export async function findUserById(db: Queryable, id: string): Promise<(User & { passwordHash: string }) | null> {
  const res = await db.query(`SELECT ${USER_SELECT}, password_hash FROM users WHERE id = $1`, [id]);
  const r = res.rows[0];
  return r ? { ...toUser(r), passwordHash: r.password_hash } : null;
}

/**
 * Grants admin to `email`: records the grant (applied when the address is verified) and promotes
 * an existing account whose email is already verified. Returns whether an account was promoted.
 */
export async function grantAdmin(db: Queryable, email: string): Promise<boolean> {
  await db.query('INSERT INTO admin_grants (email) VALUES ($1) ON CONFLICT DO NOTHING', [email]);
  const res = await db.query('UPDATE users SET is_admin = true WHERE email = $1 AND email_verified_at IS NOT NULL', [email]);
  return (res.rowCount ?? 0) > 0;
}

export async function setTimeZone(db: Queryable, userId: string, timeZone: string): Promise<void> {
  await db.query('UPDATE users SET time_zone = $2 WHERE id = $1', [userId, timeZone]);
}

export interface Customer {
  email: string;
  isAdmin: boolean;
  emailVerified: boolean;
  createdAt: Date;
  expenseCount: number;
}

/** One page of every account, oldest first, with expense counts. */
export async function listCustomers(db: Queryable, page: number, limit: number): Promise<Page<Customer>> {
  const [rows, count] = await Promise.all([
    db.query(
      `SELECT u.email, u.is_admin, u.email_verified_at, u.created_at,
              (SELECT count(*)::int FROM expenses e WHERE e.user_id = u.id) AS expense_count
         FROM users u ORDER BY u.created_at, u.id LIMIT $1 OFFSET $2`,
      [limit, (page - 1) * limit],
    ),
    db.query('SELECT count(*)::int AS n FROM users'),
  ]);
  const items = rows.rows.map((r) => ({
    email: r.email,
    isAdmin: r.is_admin,
    emailVerified: r.email_verified_at !== null,
    createdAt: r.created_at as Date,
    expenseCount: r.expense_count,
  }));
  return { items, page, limit, total: count.rows[0].n };
}

export async function insertExpense(db: Queryable, userId: string, e: ExpenseInput): Promise<Expense> {
  const res = await db.query(
    `INSERT INTO expenses (user_id, amount_cents, currency, category, description, spent_on)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${EXPENSE_COLUMNS}`,
    [userId, e.amountCents, e.currency, e.category, e.description, e.date],
  );
  return toExpense(res.rows[0]);
}

export async function getExpense(db: Queryable, userId: string, id: string): Promise<Expense | null> {
  if (!isUuid(id)) return null;
  const res = await db.query(`SELECT ${EXPENSE_COLUMNS} FROM expenses WHERE id = $1 AND user_id = $2`, [id, userId]);
  return res.rows[0] ? toExpense(res.rows[0]) : null;
}

/** Updates the given fields; returns the new row and the old date (for cache invalidation), or null. */
export async function updateExpense(
  db: Queryable,
  userId: string,
  id: string,
  patch: ExpensePatch,
): Promise<{ expense: Expense; previousDate: string } | null> {
  if (!isUuid(id)) return null;
  const res = await db.query(
    `WITH old AS (SELECT id, to_char(spent_on, 'YYYY-MM-DD') AS previous_date FROM expenses
                   WHERE id = $1 AND user_id = $2 FOR UPDATE)
     UPDATE expenses e SET
       amount_cents = COALESCE($3, e.amount_cents),
       currency     = COALESCE($4, e.currency),
       category     = COALESCE($5, e.category),
       description  = COALESCE($6, e.description),
       spent_on     = COALESCE($7::date, e.spent_on),
       updated_at   = now()
     FROM old WHERE e.id = old.id
     RETURNING e.id, e.amount_cents::float8 AS amount_cents, e.currency, e.category, e.description,
       to_char(e.spent_on, 'YYYY-MM-DD') AS date, e.created_at, e.updated_at, old.previous_date`,
    [id, userId, patch.amountCents ?? null, patch.currency ?? null, patch.category ?? null, patch.description ?? null, patch.date ?? null],
  );
  const r = res.rows[0];
  return r ? { expense: toExpense(r), previousDate: r.previous_date } : null;
}

/** Deletes one of the user's expenses; returns its date, or null when it does not exist for them. */
export async function deleteExpense(db: Queryable, userId: string, id: string): Promise<string | null> {
  if (!isUuid(id)) return null;
  const res = await db.query(
    `DELETE FROM expenses WHERE id = $1 AND user_id = $2 RETURNING to_char(spent_on, 'YYYY-MM-DD') AS date`,
    [id, userId],
  );
  return res.rows[0]?.date ?? null;
}

/** `spent_on` bounds of `month`, or of every date when `month` is undefined. */
function dateBounds(month: string | undefined): [string, string] {
  if (!month) return ['-infinity', 'infinity'];
  const { from, to } = monthRange(month);
  return [from, to];
}

/**
 * One page of the user's expenses, newest first (date, then creation, then id: a total order, so
 * pages neither repeat nor skip rows); within `month` (YYYY-MM) when given. `page` is 1-based.
 */
export async function listExpenses(
  db: Queryable,
  userId: string,
  opts: { month?: string | undefined; page: number; limit: number },
): Promise<Page<Expense>> {
  const [from, to] = dateBounds(opts.month);
  const [rows, count] = await Promise.all([
    db.query(
      `SELECT ${EXPENSE_COLUMNS} FROM expenses WHERE user_id = $1 AND spent_on >= $2::date AND spent_on < $3::date
        ORDER BY spent_on DESC, created_at DESC, id DESC LIMIT $4 OFFSET $5`,
      [userId, from, to, opts.limit, (opts.page - 1) * opts.limit],
    ),
    db.query('SELECT count(*)::int AS n FROM expenses WHERE user_id = $1 AND spent_on >= $2::date AND spent_on < $3::date', [
      userId,
      from,
      to,
    ]),
  ]);
  return { items: rows.rows.map(toExpense), page: opts.page, limit: opts.limit, total: count.rows[0].n };
}

/** The user's most recent expenses in `month` (the dashboard's short list). */
export async function recentExpenses(db: Queryable, userId: string, month: string, limit: number): Promise<Expense[]> {
  const [from, to] = dateBounds(month);
  const res = await db.query(
    `SELECT ${EXPENSE_COLUMNS} FROM expenses WHERE user_id = $1 AND spent_on >= $2::date AND spent_on < $3::date
      ORDER BY spent_on DESC, created_at DESC, id DESC LIMIT $4`,
    [userId, from, to, limit],
  );
  return res.rows.map(toExpense);
}

/**
 * Every expense of the user (of `month` when given), oldest first, in batches of `batchSize` by
 * keyset (the last row's position), so an export of any size holds one batch in memory.
 */
export async function* expenseBatches(db: Queryable, userId: string, month: string | undefined, batchSize = 1_000): AsyncGenerator<Expense[]> {
  const [from, to] = dateBounds(month);
  let after: string | null = null;
  for (;;) {
    const res: pg.QueryResult = await db.query(
      `SELECT ${EXPENSE_COLUMNS} FROM expenses
        WHERE user_id = $1 AND spent_on >= $2::date AND spent_on < $3::date
          AND ($4::uuid IS NULL OR (spent_on, created_at, id) > (SELECT spent_on, created_at, id FROM expenses WHERE id = $4::uuid))
        ORDER BY spent_on, created_at, id LIMIT $5`,
      [userId, from, to, after, batchSize],
    );
    if (res.rows.length === 0) return;
    yield res.rows.map(toExpense);
    if (res.rows.length < batchSize) return;
    after = res.rows[res.rows.length - 1].id;
  }
}

export interface MonthlyTotal {
  month: string;
  currency: string;
  totalCents: number;
}

/** Totals per month and currency for the months `from`..`to` inclusive (`YYYY-MM`). */
export async function monthlyTotals(db: Queryable, userId: string, from: string, to: string): Promise<MonthlyTotal[]> {
  const res = await db.query(
    `SELECT to_char(date_trunc('month', spent_on), 'YYYY-MM') AS month, currency, sum(amount_cents)::float8 AS total
       FROM expenses WHERE user_id = $1 AND spent_on >= $2::date AND spent_on < $3::date
      GROUP BY 1, 2 ORDER BY 1, 2`,
    [userId, monthRange(from).from, monthRange(to).to],
  );
  return res.rows.map((r) => ({ month: r.month, currency: (r.currency as string).trim(), totalCents: Number(r.total) }));
}

/** Aggregates of one month in one round trip (GROUPING SETS over currency, category and day). */
export async function monthAggregates(db: Queryable, userId: string, month: string): Promise<MonthAggregates> {
  const { from, to } = monthRange(month);
  const res = await db.query(
    `SELECT currency, category, to_char(spent_on, 'YYYY-MM-DD') AS date,
            sum(amount_cents)::float8 AS total, count(*)::int AS n,
            GROUPING(category, spent_on) AS g
       FROM expenses WHERE user_id = $1 AND spent_on >= $2 AND spent_on < $3
      GROUP BY GROUPING SETS ((currency), (currency, category), (currency, spent_on))
      ORDER BY currency, category NULLS LAST, spent_on NULLS LAST`,
    [userId, from, to],
  );
  const agg: MonthAggregates = { month, totals: [], byCategory: [], byDay: [] };
  for (const r of res.rows) {
    const currency = (r.currency as string).trim();
    // GROUPING(category, spent_on): 3 = both rolled up (currency total), 1 = by category, 2 = by day.
    if (r.g === 3) agg.totals.push({ currency, totalCents: Number(r.total), count: r.n });
    else if (r.g === 1) agg.byCategory.push({ currency, category: r.category, totalCents: Number(r.total) });
    else agg.byDay.push({ currency, date: r.date, totalCents: Number(r.total) });
  }
  return agg;
}

/** Total spent by the user in `currency` within `month`. */
export async function monthTotal(db: Queryable, userId: string, month: string, currency: string): Promise<number> {
  const { from, to } = monthRange(month);
  const res = await db.query(
    `SELECT COALESCE(sum(amount_cents), 0)::float8 AS total FROM expenses
      WHERE user_id = $1 AND currency = $2 AND spent_on >= $3 AND spent_on < $4`,
    [userId, currency, from, to],
  );
  return Number(res.rows[0].total);
}

const DEFAULT_SETTINGS: Settings = { monthlyLimitCents: null, currency: 'USD', alertEmail: null, alertEmailVerified: false };

function toSettings(r: Record<string, any>): Settings {
  return {
    monthlyLimitCents: r.l === null ? null : Number(r.l),
    currency: (r.currency as string).trim(),
    alertEmail: r.alert_email,
    alertEmailVerified: r.alert_email !== null && r.alert_email_verified_at !== null,
  };
}

export async function getSettings(db: Queryable, userId: string): Promise<Settings & { generation: number }> {
  const res = await db.query(
    `SELECT monthly_limit_cents::float8 AS l, currency, alert_email, alert_email_verified_at, budget_generation
       FROM user_settings WHERE user_id = $1`,
    [userId],
  );
  const r = res.rows[0];
  if (!r) return { ...DEFAULT_SETTINGS, generation: 0 };
  return { ...toSettings(r), generation: r.budget_generation };
}

/**
 * Saves the budget settings. A new limit or currency starts a new alert generation (the month's
 * alerts re-arm); a new alert email starts unverified. `alertEmailChanged` says whether it did.
 */
export async function putSettings(db: Queryable, userId: string, b: BudgetInput): Promise<{ settings: Settings; alertEmailChanged: boolean }> {
  const res = await db.query(
    `WITH old AS (SELECT alert_email FROM user_settings WHERE user_id = $1),
     saved AS (
       INSERT INTO user_settings AS s (user_id, monthly_limit_cents, currency, alert_email, updated_at)
       VALUES ($1, $2, $3, $4, now())
       ON CONFLICT (user_id) DO UPDATE SET
         monthly_limit_cents = EXCLUDED.monthly_limit_cents,
         currency = EXCLUDED.currency,
         alert_email = EXCLUDED.alert_email,
         alert_email_verified_at = CASE WHEN s.alert_email IS NOT DISTINCT FROM EXCLUDED.alert_email THEN s.alert_email_verified_at END,
         budget_generation = s.budget_generation +
           CASE WHEN s.monthly_limit_cents IS DISTINCT FROM EXCLUDED.monthly_limit_cents OR s.currency <> EXCLUDED.currency THEN 1 ELSE 0 END,
         updated_at = now()
       RETURNING monthly_limit_cents::float8 AS l, currency, alert_email, alert_email_verified_at)
     SELECT saved.*, (SELECT alert_email FROM old) IS DISTINCT FROM saved.alert_email AS changed FROM saved`,
    [userId, b.monthlyLimitCents, b.currency, b.alertEmail],
  );
  const r = res.rows[0];
  return { settings: toSettings(r), alertEmailChanged: r.changed && r.alert_email !== null };
}
