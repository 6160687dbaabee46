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
}

/** Per-currency aggregates of one user's month (what the dashboard cache stores). */
export interface MonthAggregates {
  month: string;
  totals: { currency: string; totalCents: number; count: number }[];
  byCategory: { currency: string; category: string; totalCents: number }[];
  byDay: { currency: string; date: string; totalCents: number }[];
}

type Queryable = pg.Pool | pg.PoolClient;

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
 * Inserts a user. Admin when the email equals `adminEmail` or has an admin grant.
 * Returns `null` when the email is already registered.
 */
export async function createUser(db: Queryable, email: string, passwordHash: string, adminEmail?: string): Promise<User | null> {
  const res = await db.query(
    `INSERT INTO users (email, password_hash, is_admin)
     VALUES ($1, $2, COALESCE($1 = $3, false) OR EXISTS (SELECT 1 FROM admin_grants WHERE email = $1))
     ON CONFLICT (email) DO NOTHING
     RETURNING id, email, is_admin`,
    [email, passwordHash, adminEmail ?? null],
  );
  const r = res.rows[0];
  return r ? { id: r.id, email: r.email, isAdmin: r.is_admin } : null;
}

export async function findUserByEmail(db: Queryable, email: string): Promise<(User & { passwordHash: string }) | null> {
  const res = await db.query('SELECT id, email, is_admin, password_hash FROM users WHERE email = $1', [email]);
  const r = res.rows[0];
  return r ? { id: r.id, email: r.email, isAdmin: r.is_admin, passwordHash: r.password_hash } : null;
}

export async function findUserById(db: Queryable, id: string): Promise<User | null> {
  const res = await db.query('SELECT id, email, is_admin FROM users WHERE id = $1', [id]);
  const r = res.rows[0];
  return r ? { id: r.id, email: r.email, isAdmin: r.is_admin } : null;
}

/**
 * Grants admin to `email`: records the grant (so a later registration is admin) and promotes an
 * existing account. Returns whether an existing account was promoted.
 */
export async function grantAdmin(db: Queryable, email: string): Promise<boolean> {
  await db.query('INSERT INTO admin_grants (email) VALUES ($1) ON CONFLICT DO NOTHING', [email]);
  const res = await db.query('UPDATE users SET is_admin = true WHERE email = $1', [email]);
  return (res.rowCount ?? 0) > 0;
}

export async function listCustomers(
  db: Queryable,
): Promise<{ email: string; isAdmin: boolean; createdAt: string; expenseCount: number }[]> {
  const res = await db.query(
    `SELECT u.email, u.is_admin, u.created_at, count(e.id)::int AS expense_count
       FROM users u LEFT JOIN expenses e ON e.user_id = u.id
      GROUP BY u.id ORDER BY u.created_at, u.email`,
  );
  return res.rows.map((r) => ({
    email: r.email,
    isAdmin: r.is_admin,
    createdAt: (r.created_at as Date).toISOString(),
    expenseCount: r.expense_count,
  }));
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

/** The user's expenses, newest first; within `month` (YYYY-MM) when given. At most `limit` rows. */
export async function listExpenses(db: Queryable, userId: string, opts: { month?: string; limit?: number } = {}): Promise<Expense[]> {
  const limit = opts.limit ?? 1000;
  if (opts.month) {
    const { from, to } = monthRange(opts.month);
    const res = await db.query(
      `SELECT ${EXPENSE_COLUMNS} FROM expenses WHERE user_id = $1 AND spent_on >= $2 AND spent_on < $3
        ORDER BY spent_on DESC, created_at DESC LIMIT $4`,
      [userId, from, to, limit],
    );
    return res.rows.map(toExpense);
  }
  const res = await db.query(
    `SELECT ${EXPENSE_COLUMNS} FROM expenses WHERE user_id = $1 ORDER BY spent_on DESC, created_at DESC LIMIT $2`,
    [userId, limit],
  );
  return res.rows.map(toExpense);
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

const DEFAULT_SETTINGS: Settings = { monthlyLimitCents: null, currency: 'USD', alertEmail: null };

export async function getSettings(db: Queryable, userId: string): Promise<Settings> {
  const res = await db.query(
    'SELECT monthly_limit_cents::float8 AS l, currency, alert_email FROM user_settings WHERE user_id = $1',
    [userId],
  );
  const r = res.rows[0];
  if (!r) return { ...DEFAULT_SETTINGS };
  return { monthlyLimitCents: r.l === null ? null : Number(r.l), currency: r.currency.trim(), alertEmail: r.alert_email };
}

export async function putSettings(db: Queryable, userId: string, b: BudgetInput): Promise<Settings> {
  await db.query(
    `INSERT INTO user_settings (user_id, monthly_limit_cents, currency, alert_email, updated_at)
     VALUES ($1, $2, $3, $4, now())
     ON CONFLICT (user_id) DO UPDATE SET monthly_limit_cents = EXCLUDED.monthly_limit_cents,
       currency = EXCLUDED.currency, alert_email = EXCLUDED.alert_email, updated_at = now()`,
    [userId, b.monthlyLimitCents, b.currency, b.alertEmail],
  );
  return { monthlyLimitCents: b.monthlyLimitCents, currency: b.currency, alertEmail: b.alertEmail };
}
