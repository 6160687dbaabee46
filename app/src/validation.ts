/**
 * Input schemas (zod) shared by the JSON API and the HTML forms. A failure is reported as the
 * first issue's field path and message, e.g. `{ field: 'amountCents', message: '...' }`.
 */
import { z } from 'zod';
import { isCurrency } from './money.js';
import { isTimeZone } from './calendar.js';

/** Largest amount accepted: 10^12 minor units (10 billion in a 2-digit currency). */
export const MAX_AMOUNT_CENTS = 1_000_000_000_000;
export const MAX_DESCRIPTION = 500;
export const MAX_CATEGORY = 40;

const isoDate = z.iso.date({ error: 'must be an ISO date (YYYY-MM-DD)' }).refine((d) => {
  const y = Number(d.slice(0, 4));
  return y >= 1900 && y <= 2999;
}, 'must be between 1900-01-01 and 2999-12-31');

const currencySchema = z
  .string({ error: 'must be an ISO 4217 code' })
  .refine(isCurrency, 'must be a known ISO 4217 currency code (e.g. USD)');

const amountSchema = z
  .number({ error: 'must be an integer number of minor units (cents)' })
  .int('must be an integer number of minor units (cents)')
  .positive('must be greater than 0')
  .max(MAX_AMOUNT_CENTS, `must be at most ${MAX_AMOUNT_CENTS}`);

const categorySchema = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, 'must not be empty')
  .max(MAX_CATEGORY, `must be at most ${MAX_CATEGORY} characters`);

const descriptionSchema = z
  .string({ error: 'must be a string' })
  .trim()
  .max(MAX_DESCRIPTION, `must be at most ${MAX_DESCRIPTION} characters`);

/** `POST /api/expenses` body. */
export const expenseCreateSchema = z.strictObject({
  amountCents: amountSchema,
  currency: currencySchema,
  category: categorySchema,
  description: descriptionSchema.default(''),
  date: isoDate,
});
export type ExpenseInput = z.infer<typeof expenseCreateSchema>;

/** `PATCH /api/expenses/:id` body: any subset, at least one field. */
export const expensePatchSchema = z
  .strictObject({
    amountCents: amountSchema,
    currency: currencySchema,
    category: categorySchema,
    description: descriptionSchema,
    date: isoDate,
  })
  .partial()
  .refine((o) => Object.keys(o).length > 0, 'must contain at least one field to change');
export type ExpensePatch = z.infer<typeof expensePatchSchema>;

/** `PUT /api/budget` body (also the settings form). `monthlyLimitCents: null` removes the limit. */
export const budgetSchema = z.strictObject({
  monthlyLimitCents: amountSchema.nullable(),
  currency: currencySchema,
  alertEmail: z
    .union([z.email({ error: 'must be an email address' }).max(254), z.literal(''), z.null()])
    .optional()
    .transform((v) => (v ? v.toLowerCase() : null)),
});
export type BudgetInput = z.infer<typeof budgetSchema>;

/** A month as `YYYY-MM`. */
export const monthSchema = z
  .string({ error: 'must be a month (YYYY-MM)' })
  .regex(/^(19|2\d)\d{2}-(0[1-9]|1[0-2])$/, 'must be a month (YYYY-MM)');

/** An email address as stored: trimmed, lower case, at most 254 characters. */
export const emailSchema = z
  .string({ error: 'must be an email address' })
  .trim()
  .toLowerCase()
  .pipe(z.email({ error: 'must be an email address' }).max(254, 'must be at most 254 characters'));

/** Length rules of a new password (strength is checked by `passwords.ts`). */
export const passwordSchema = z
  .string({ error: 'is required' })
  .min(8, 'must be at least 8 characters')
  .max(256, 'must be at most 256 characters');

export const credentialsSchema = z.strictObject({ email: emailSchema, password: passwordSchema });

/** Field name + message of the first issue; the path is dotted (`items.0.amount`). */
export function firstIssue(error: z.ZodError): { field: string; message: string } {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') return { field: issue.keys.join(','), message: 'is not a known field' };
  const field = issue.path.length > 0 ? issue.path.join('.') : '(body)';
  return { field, message: issue.message };
}

/** First and first-of-next-month dates (`YYYY-MM-DD`) bounding a `YYYY-MM` month. */
export function monthRange(month: string): { from: string; to: string } {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
  return { from: `${month}-01`, to: `${next}-01` };
}

/** Validation failure carrying the field name; answered with 400 (`validation_failed`). */
export class ValidationError extends Error {
  readonly statusCode = 400;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/**
 * Parses `value` with `schema`. @throws ValidationError naming `fieldName` (or the first issue's
 * field path) and the first issue's message.
 */
export function parseInput<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: z.ZodError } },
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

/** A form field as a string: the first value when repeated, `''` when absent or not text. */
export function formString(body: unknown, key: string): string {
  const v = (body as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '';
}

/** The `month` query parameter (`YYYY-MM`), `fallback` when absent. @throws ValidationError */
export function monthParam(query: unknown, fallback: string): string {
  const m = (query as Record<string, unknown> | undefined)?.month;
  if (m === undefined || m === '') return fallback;
  return parseInput(monthSchema, m, 'month');
}

/** Most rows one page may hold (`limit`); a larger request is refused, never silently cut. */
export const MAX_PAGE_LIMIT = 200;

const positiveInt = (max: number) =>
  z
    .string({ error: 'must be a whole number' })
    .regex(/^[1-9]\d{0,8}$/, 'must be a whole number from 1')
    .transform(Number)
    .refine((n) => n <= max, `must be at most ${max}`);

/**
 * `page` (1-based, default 1) and `limit` (rows per page, default `defaultLimit`, at most
 * {@link MAX_PAGE_LIMIT}) query parameters. @throws ValidationError naming `page` or `limit`
 */
export function pageParams(query: unknown, defaultLimit: number): { page: number; limit: number } {
  const q = (query ?? {}) as Record<string, unknown>;
  const page = q.page === undefined || q.page === '' ? 1 : parseInput(positiveInt(10_000_000), q.page, 'page');
  const limit = q.limit === undefined || q.limit === '' ? defaultLimit : parseInput(positiveInt(MAX_PAGE_LIMIT), q.limit, 'limit');
  return { page, limit };
}

/** The `timeZone` setting: an IANA zone name ICU knows. */
export const timeZoneSchema = z
  .string({ error: 'must be an IANA time zone name (e.g. Europe/Paris)' })
  .refine(isTimeZone, 'must be an IANA time zone name (e.g. Europe/Paris)');
