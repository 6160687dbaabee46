/**
 * Import options: the CSV format of a file and the mapping of its columns onto expense fields.
 *
 * A client may give any subset as query parameters of `POST /api/imports` (and of the preview);
 * everything left out is detected from the first bytes of the file ({@link detectFormat}). The
 * result, {@link ImportOptions}, is stored with the import, so a resumed import reads the rest of
 * the file exactly as the first part was read.
 */
import { z } from 'zod';
import { isCurrency } from '../money.js';
import { MAX_CATEGORY } from '../validation.js';
import { DATE_FORMATS, DECIMAL_SEPARATORS, type DateFormat, type DecimalSeparator } from './formats.js';

/** What the amount's sign means: bank statements show spending as negative, card statements often as positive. */
export const EXPENSE_SIGNS = ['negative', 'positive'] as const;
export type ExpenseSign = (typeof EXPENSE_SIGNS)[number];

/** Category given to rows whose category cell is empty or not mapped (unless the client names another). */
export const DEFAULT_CATEGORY = 'Uncategorized';

/** The resolved, stored options of one import. Column indexes are 0-based. */
export interface ImportOptions {
  format: {
    /** One character; `\t` for TSV. */
    delimiter: string;
    decimal: DecimalSeparator;
    dateFormat: DateFormat;
    /** The first record names the columns (it is not imported). */
    header: boolean;
    /** What ends a line: LF (also CRLF) or a lone CR (classic Mac); line numbers count it. */
    lineBreak: 'LF' | 'CR';
  };
  /** Column names from the header, or `Column 1`... without one. */
  columns: string[];
  mapping: {
    date: number;
    /** Signed amount column; exactly one of `amount` and `debit` is set. */
    amount: number | null;
    /** Debit ("money out") column: a non-empty cell is an expense, an empty one a credit. */
    debit: number | null;
    currency: number | null;
    category: number | null;
    /** Joined with ` · ` in this order; may be empty. */
    description: number[];
  };
  /** Currency of rows without a currency column or cell (ISO 4217). */
  defaultCurrency: string;
  /** Category of rows without a category (1-40 characters). */
  defaultCategory: string;
  /** Which sign of `amount` is an expense; rows of the other sign are skipped as credits. */
  expenses: ExpenseSign;
}

/** A bad option, reported as a 400/422 naming the query parameter. */
export class OptionError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'OptionError';
  }
}

const DELIMITER_WORDS: Record<string, string> = { tab: '\t', comma: ',', semicolon: ';', pipe: '|' };

const single = z.union([z.string(), z.array(z.string()).transform((a) => a[a.length - 1]!)]);
const optionalText = single.optional().transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const many = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? undefined : (Array.isArray(v) ? v : [v]).flatMap((s) => s.split('|')).map((s) => s.trim()).filter(Boolean)));

/**
 * Query parameters of `POST /api/imports` and `POST /api/imports/preview`. Column parameters
 * (`date`, `amount`, `debit`, `currency`, `category`, `description`) name a header column
 * (case-insensitive) or give a 1-based column number. `description` may repeat (or use `|`).
 */
export const importQuerySchema = z
  .object({
    name: optionalText.pipe(z.string().max(255, 'must be at most 255 characters').optional()),
    delimiter: optionalText.pipe(
      z
        .string()
        .transform((d) => DELIMITER_WORDS[d.toLowerCase()] ?? (d === '\\t' ? '\t' : d))
        .refine((d) => [...d].length === 1 && !/["\r\n]/.test(d), 'must be one character (or tab, comma, semicolon, pipe), not a quote or newline')
        .optional(),
    ),
    decimal: optionalText.pipe(z.enum(DECIMAL_SEPARATORS, { error: 'must be . or ,' }).optional()),
    dateFormat: optionalText.pipe(z.enum(DATE_FORMATS, { error: `must be one of ${DATE_FORMATS.join(', ')}` }).optional()),
    header: optionalText.pipe(z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true').optional()),
    date: optionalText,
    amount: optionalText,
    debit: optionalText,
    currency: optionalText,
    category: optionalText,
    description: many,
    defaultCurrency: optionalText.pipe(
      z
        .string()
        .transform((c) => c.toUpperCase())
        .refine(isCurrency, 'must be a known ISO 4217 currency code (e.g. EUR)')
        .optional(),
    ),
    defaultCategory: optionalText.pipe(z.string().max(MAX_CATEGORY, `must be at most ${MAX_CATEGORY} characters`).optional()),
    expenses: optionalText.pipe(z.enum(EXPENSE_SIGNS, { error: 'must be negative or positive' }).optional()),
  })
  .refine((q) => !(q.amount && q.debit), { message: 'give either amount or debit, not both', path: ['debit'] });

/** Parsed query parameters; every key may be missing. */
export type ImportQuery = Partial<z.output<typeof importQuerySchema>>;

/** The column-mapping parameters, in the order the page shows them. */
export const MAPPING_FIELDS = ['date', 'amount', 'debit', 'currency', 'category', 'description'] as const;

/** Lower-cased, accent-free, single-spaced header text, for matching names across languages. */
export function headerKey(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/**
 * Resolves a column reference (a header name, or a 1-based number) against the file's columns.
 * @throws OptionError naming `field` when no column matches.
 */
export function resolveColumn(field: string, ref: string, columns: string[]): number {
  const key = headerKey(ref);
  const byName = columns.findIndex((c) => headerKey(c) === key);
  if (byName !== -1) return byName;
  if (/^\d+$/.test(ref)) {
    const n = Number(ref);
    if (n >= 1 && n <= columns.length) return n - 1;
  }
  const shown = columns.map((c) => JSON.stringify(c)).join(', ');
  throw new OptionError(field, `no column ${JSON.stringify(ref)} in the file (columns: ${shown}; or use a column number 1-${columns.length})`);
}
