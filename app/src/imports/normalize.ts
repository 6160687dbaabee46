/**
 * One CSV record -> one expense row, a skipped row (a credit), or a per-row error with a reason a
 * person can act on. Runs once per record of files with many millions of rows, so it avoids
 * per-row allocations beyond the output.
 *
 * Normalization:
 * - date: the import's layout -> `YYYY-MM-DD`;
 * - amount: the currency's minor units (cents; JPY has none, KWD three), positive;
 * - currency: the currency column, else a code printed in the amount cell, else the default;
 * - category: trimmed, inner whitespace collapsed, empty -> the default; spelled like the first
 *   spelling seen for the user (case-insensitive), so `groceries` joins an existing `Groceries`;
 * - description: the mapped columns joined with ` · `, control characters removed, whitespace
 *   collapsed, cut to 500 characters.
 *
 * The content hash identifies what a row says (date, amount, currency, case-folded description),
 * not where it came from; see `merge.ts` for how it becomes a stable fingerprint.
 */
import { hash } from 'node:crypto';
import { isCurrency, minorDigits } from '../money.js';
import { MAX_AMOUNT_CENTS, MAX_CATEGORY, MAX_DESCRIPTION } from '../validation.js';
import { dateParser, parseAmount, type AmountProblem } from './formats.js';
import type { ImportOptions } from './options.js';

/** A normalized row, ready for the staging table. */
export interface StagedRow {
  spentOn: string;
  amountCents: number;
  currency: string;
  category: string;
  description: string;
  /** MD5 of the row's content as a UUID (`xxxxxxxx-xxxx-...`). */
  contentHash: string;
}

export type RowResult =
  | { kind: 'row'; row: StagedRow }
  | { kind: 'skip'; reason: string }
  | { kind: 'error'; reason: string }
  | { kind: 'blank' };

/** Distinct category spellings remembered per import (beyond it, categories are kept as written). */
const MAX_CATEGORY_SPELLINGS = 10_000;
const DESCRIPTION_SEPARATOR = ' · ';
// C0/C1 controls and the BOM: PostgreSQL text cannot hold NUL, and none of them belongs in a label.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\ufeff]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\ufeff]/g;
const RUNS_OF_SPACE = /\s{2,}/;
const SPACES = /\s+/g;

function clean(text: string): string {
  let s = text;
  if (CONTROL.test(s)) s = s.replace(CONTROLS, ' ');
  s = s.trim();
  if (RUNS_OF_SPACE.test(s) || s.includes('\t')) s = s.replace(SPACES, ' ');
  return s;
}

/** Cuts to `max` characters (code points, as PostgreSQL's `length()` counts). */
function cut(s: string, max: number): string {
  if (s.length <= max) return s;
  const cps = Array.from(s);
  return cps.length <= max ? s : cps.slice(0, max).join('');
}

const AMOUNT_PROBLEMS: Record<AmountProblem, string> = {
  empty: 'is empty',
  not_a_number: 'is not a number',
  too_many_decimals: 'has more decimal places than the currency allows',
  too_large: 'is too large',
};

function quote(v: string): string {
  return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
}

/** MD5 of `text` formatted as a UUID: the content hash stored per staged row. */
export function md5Uuid(text: string): string {
  const h = hash('md5', text, 'hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class RowNormalizer {
  private readonly parseDate: (text: string) => string | undefined;
  private readonly width: number;
  private readonly spellings = new Map<string, string>();
  private readonly defaultCategory: string;

  /** `knownCategories`: the user's existing category spellings, which imported rows adopt. */
  constructor(
    private readonly options: ImportOptions,
    knownCategories: Iterable<string> = [],
  ) {
    this.parseDate = dateParser(options.format.dateFormat);
    const m = options.mapping;
    const used = [m.date, m.amount, m.debit, m.currency, m.category, ...m.description].filter((i): i is number => i !== null);
    this.width = Math.max(...used) + 1;
    for (const c of knownCategories) this.spell(c);
    this.defaultCategory = this.spell(clean(options.defaultCategory) || 'Uncategorized');
  }

  private spell(category: string): string {
    const key = category.toLowerCase();
    const known = this.spellings.get(key);
    if (known !== undefined) return known;
    if (this.spellings.size < MAX_CATEGORY_SPELLINGS) this.spellings.set(key, category);
    return category;
  }

  normalize(fields: string[]): RowResult {
    if (fields.length <= 1 && (fields[0] ?? '').trim() === '') return { kind: 'blank' };
    if (fields.length < this.width) {
      return { kind: 'error', reason: `expected at least ${this.width} columns, found ${fields.length} (check the separator)` };
    }
    const { mapping, columns } = this.options;
    const col = (i: number) => columns[i] ?? `Column ${i + 1}`;

    const dateText = fields[mapping.date]!;
    const spentOn = this.parseDate(dateText);
    if (spentOn === undefined) {
      if (dateText.includes('\uFFFD')) return { kind: 'error', reason: 'not valid UTF-8 (export the statement as UTF-8)' };
      return { kind: 'error', reason: `${col(mapping.date)}: ${quote(dateText)} is not a ${this.options.format.dateFormat} date between 1900 and 2999` };
    }

    let currency = this.options.defaultCurrency;
    let currencyFromColumn = false;
    if (mapping.currency !== null) {
      const c = fields[mapping.currency]!.trim().toUpperCase();
      if (c !== '') {
        if (!isCurrency(c)) return { kind: 'error', reason: `${col(mapping.currency)}: ${quote(c)} is not an ISO 4217 currency code` };
        currency = c;
        currencyFromColumn = true;
      }
    }

    const moneyCol = (mapping.amount ?? mapping.debit)!;
    const moneyText = fields[moneyCol]!;
    if (mapping.debit !== null && moneyText.trim() === '') return { kind: 'skip', reason: 'credit (empty debit)' };
    let parsed = parseAmount(moneyText, this.options.format.decimal, minorDigits(currency));
    if (typeof parsed === 'object' && parsed.code !== undefined && !currencyFromColumn && parsed.code !== currency) {
      if (!isCurrency(parsed.code)) return { kind: 'error', reason: `${col(moneyCol)}: ${quote(parsed.code)} is not an ISO 4217 currency code` };
      currency = parsed.code;
      parsed = parseAmount(moneyText, this.options.format.decimal, minorDigits(currency));
    }
    if (typeof parsed === 'string') return { kind: 'error', reason: `${col(moneyCol)}: ${quote(moneyText.trim())} ${AMOUNT_PROBLEMS[parsed]}` };
    if (parsed.cents === 0) return { kind: 'skip', reason: 'zero amount' };
    if (mapping.amount !== null && parsed.negative !== (this.options.expenses === 'negative')) {
      return { kind: 'skip', reason: 'credit' };
    }
    if (parsed.cents > MAX_AMOUNT_CENTS) return { kind: 'error', reason: `${col(moneyCol)}: ${quote(moneyText.trim())} is above the largest amount accepted` };

    let category = this.defaultCategory;
    if (mapping.category !== null) {
      const c = clean(fields[mapping.category]!);
      if (c !== '') {
        if (c.includes('\uFFFD')) return { kind: 'error', reason: 'not valid UTF-8 (export the statement as UTF-8)' };
        if ([...c].length > MAX_CATEGORY) {
          return { kind: 'error', reason: `${col(mapping.category)}: ${quote(c)} is longer than ${MAX_CATEGORY} characters` };
        }
        category = this.spell(c);
      }
    }

    let description = '';
    for (const i of mapping.description) {
      const part = clean(fields[i]!);
      if (part === '') continue;
      description = description === '' ? part : description + DESCRIPTION_SEPARATOR + part;
    }
    if (description.includes('\uFFFD')) return { kind: 'error', reason: 'not valid UTF-8 (export the statement as UTF-8)' };
    description = cut(description, MAX_DESCRIPTION);

    const contentHash = md5Uuid(`v1\u001f${spentOn}\u001f${parsed.cents}\u001f${currency}\u001f${description.toLowerCase()}`);
    return { kind: 'row', row: { spentOn, amountCents: parsed.cents, currency, category, description, contentHash } };
  }
}
