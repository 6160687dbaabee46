/**
 * Format detection from the first bytes of a file (at most {@link SAMPLE_BYTES}): separator,
 * header row, decimal separator, date layout, and which column holds what. Used by the preview
 * (to propose a mapping the user can correct) and by the upload (to fill in what the client did not
 * give, and to refuse a file that cannot be read before it is stored).
 */
import { parse, type CsvError } from 'csv-parse/sync';
import { isCurrency } from '../money.js';
import { DATE_FORMATS, DELIMITERS, dateParser, parseAmount, type DateFormat, type DecimalSeparator } from './formats.js';
import {
  DEFAULT_CATEGORY,
  OptionError,
  headerKey,
  resolveColumn,
  type ExpenseSign,
  type ImportOptions,
  type ImportQuery,
} from './options.js';

/** Bytes of the file's start that detection and the preview look at. */
export const SAMPLE_BYTES = 64 * 1024;
/** Records of the sample used to score separators and columns. */
const SAMPLE_RECORDS = 200;
/** Mapping parameters that may be `none`: the file has no such column. */
const OPTIONAL_COLUMNS = new Set(['currency', 'category']);

/** Header names of each field in the languages of common bank exports, in order of preference. */
const HEADER_NAMES: Record<'date' | 'amount' | 'debit' | 'currency' | 'category' | 'description', string[]> = {
  date: [
    'date', 'booking date', 'transaction date', 'posting date', 'posted date', 'trans date', 'buchungstag', 'buchungsdatum',
    'datum', 'fecha', 'fecha operacion', 'date operation', 'date de l operation', 'data', 'data operazione',
    'data contabile', 'boekingsdatum', 'data transakcji', 'value date', 'valutadatum', 'wertstellung',
  ],
  amount: [
    'amount', 'transaction amount', 'betrag', 'umsatz', 'importe', 'montant', 'importo', 'bedrag', 'valor', 'kwota',
    'betrag eur', 'amount eur', 'amount usd', 'amount gbp',
  ],
  debit: ['debit', 'debit amount', 'withdrawal', 'withdrawals', 'paid out', 'money out', 'soll', 'belastung', 'cargo', 'addebiti', 'uscite'],
  currency: ['currency', 'waehrung', 'wahrung', 'moneda', 'devise', 'divisa', 'valuta code', 'currency code'],
  category: ['category', 'kategorie', 'categoria', 'categorie', 'rubrik', 'kategoria'],
  description: [
    'payee', 'merchant', 'name', 'beguenstigter zahlungspflichtiger', 'empfanger', 'empfaenger', 'auftraggeber',
    'description', 'memo', 'details', 'narrative', 'reference', 'verwendungszweck', 'buchungstext', 'concepto',
    'descripcion', 'libelle', 'descrizione', 'omschrijving', 'naam omschrijving', 'tytul', 'text', 'purpose',
  ],
};
/** Name pairs that make a good two-part description (who, then what for). */
const PAYEE_KEYS = new Set(['payee', 'merchant', 'name', 'beguenstigter zahlungspflichtiger', 'empfanger', 'empfaenger', 'auftraggeber', 'naam omschrijving']);

export interface Sample {
  /** Records of the sample (the header record included when there is one). */
  records: string[][];
  /** The sample is the whole file. */
  complete: boolean;
  /** The file starts with a UTF-8 byte-order mark. */
  bom: boolean;
  /** Lines end with a lone CR (classic Mac); line numbers then count CRs. */
  crOnly: boolean;
}

/** What detection found, with the warnings a person should look at. */
export interface Detection {
  options: ImportOptions;
  sample: Sample;
  warnings: string[];
}

function cutAtLastNewline(buf: Buffer): Buffer {
  const lf = buf.lastIndexOf(0x0a);
  const cr = buf.lastIndexOf(0x0d);
  const end = Math.max(lf, cr);
  return end === -1 ? buf : buf.subarray(0, end + 1);
}

function parseSample(text: string, delimiter: string, onSkip?: (err: CsvError | undefined) => undefined): string[][] {
  return parse(text, {
    delimiter,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    to: SAMPLE_RECORDS + 1,
    on_skip: onSkip,
  }) as string[][];
}

/**
 * Reads the sample: `head` is the start of the file (at most {@link SAMPLE_BYTES} are used);
 * `complete` says whether it is the whole file.
 * @throws OptionError(`file`) when the sample is not UTF-8 text or has no line at all.
 */
export function readSample(head: Buffer, complete: boolean, delimiter?: string): { sample: Sample; delimiter: string } {
  let buf = head.subarray(0, SAMPLE_BYTES);
  const isComplete = complete && head.length <= SAMPLE_BYTES;
  if (!isComplete) buf = cutAtLastNewline(buf);
  const bom = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
  if (bom) buf = buf.subarray(3);
  if (buf.includes(0)) throw new OptionError('file', 'is binary (contains NUL bytes), not a CSV text file');
  const text = new TextDecoder('utf-8', { fatal: false }).decode(buf);
  if (text.includes('\uFFFD') && !isValidUtf8(buf)) {
    throw new OptionError('file', 'is not UTF-8 text: save or export the statement as UTF-8 (with or without BOM)');
  }
  if (text.trim() === '') throw new OptionError('file', 'is empty');
  const crOnly = !text.includes('\n') && text.includes('\r');
  const chosen = delimiter ?? detectDelimiter(text);
  let unclosed: number | undefined;
  const records = parseSample(text, chosen, (err) => {
    if (err?.code === 'CSV_QUOTE_NOT_CLOSED') unclosed = (err as CsvError & { lines?: number }).lines ?? 0;
    return undefined;
  }).filter((r) => !(r.length === 1 && r[0]!.trim() === ''));
  // In a sample cut short, an open quote may close after the cut; in a whole file it never does.
  if (unclosed !== undefined && isComplete && records.length < SAMPLE_RECORDS) {
    throw new OptionError('file', 'has a quoted field that is never closed (a " without its closing ")');
  }
  if (records.length === 0) throw new OptionError('file', 'has no CSV records');
  return { sample: { records, complete: isComplete, bom, crOnly }, delimiter: chosen };
}

function isValidUtf8(buf: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

/** The separator giving the most records with one and the same column count (at least 2). */
function detectDelimiter(text: string): string {
  let best: { d: string; score: number; cols: number } = { d: ',', score: -1, cols: 0 };
  for (const d of DELIMITERS) {
    let records: string[][];
    try {
      records = parseSample(text, d);
    } catch {
      continue;
    }
    const counts = new Map<number, number>();
    for (const r of records) counts.set(r.length, (counts.get(r.length) ?? 0) + 1);
    let mode = 0;
    let modeCount = 0;
    for (const [cols, n] of counts) if (n > modeCount || (n === modeCount && cols > mode)) [mode, modeCount] = [cols, n];
    if (mode < 2) continue;
    const score = modeCount / Math.max(1, records.length);
    if (score > best.score || (score === best.score && mode > best.cols)) best = { d, score, cols: mode };
  }
  return best.d;
}

const isDateLike = (v: string) => DATE_FORMATS.some((f) => dateParser(f)(v) !== undefined);
const isAmountLike = (v: string) => /\d/.test(v) && (typeof parseAmount(v, '.', 3) === 'object' || typeof parseAmount(v, ',', 3) === 'object');

/** The first record is a header when it has no date in it and later records do (or it has no amounts). */
function detectHeader(records: string[][]): boolean {
  const first = records[0]!;
  if (first.some(isDateLike)) return false;
  if (!first.some(isAmountLike)) return true;
  return records.slice(1, 20).some((r) => r.some(isDateLike));
}

/** How much a column looks like amounts: share of amount-like cells, plus a bonus for signs and fractions. */
function amountScore(vs: string[]): number {
  const like = share(vs, isAmountLike);
  if (like < 0.8) return 0;
  return like + share(vs, (v) => /[-+(−]|[.,]\d{1,3}\D*$/.test(v));
}

function values(rows: string[][], col: number): string[] {
  const out: string[] = [];
  for (const r of rows) {
    const v = r[col]?.trim();
    if (v) out.push(v);
  }
  return out;
}

/**
 * Layouts that read (nearly) every sample value, best first: the most values read, then day-first
 * when the decimal separator is a comma (the convention wherever it is), month-first otherwise.
 * A few unreadable values are allowed: they become per-row errors.
 */
function dateCandidates(samples: string[], decimal: DecimalSeparator): DateFormat[] {
  if (samples.length === 0) return [];
  // Up to a fifth of the values (at least one) may be unreadable.
  const tolerated = Math.max(1, Math.floor(samples.length / 5));
  const scored = DATE_FORMATS.map((f) => ({ f, n: samples.filter((v) => dateParser(f)(v) !== undefined).length })).filter(
    (c) => c.n >= Math.max(1, samples.length - tolerated),
  );
  const best = Math.max(0, ...scored.map((c) => c.n));
  const ok = scored.filter((c) => c.n === best).map((c) => c.f);
  return decimal === ',' ? ok : [...ok.filter((f) => f.startsWith('MM')), ...ok.filter((f) => !f.startsWith('MM'))];
}

/** Votes on `.` or `,` from amounts like 1.234,56 / -12,50 / 1,234.56. */
function detectDecimal(samples: string[], delimiter: string): { decimal: DecimalSeparator; sure: boolean } {
  let dot = 0;
  let comma = 0;
  for (const v of samples) {
    const m = /([.,])(\d+)\D*$/.exec(v);
    if (!m) continue;
    const sep = m[1]!;
    const digits = m[2]!.length;
    const other = sep === '.' ? ',' : '.';
    if (v.includes(other) && v.lastIndexOf(other) < v.lastIndexOf(sep)) sep === '.' ? dot++ : comma++;
    else if (digits !== 3) sep === '.' ? dot++ : comma++;
  }
  if (dot === 0 && comma === 0) return { decimal: delimiter === ';' ? ',' : '.', sure: false };
  return { decimal: comma > dot ? ',' : '.', sure: true };
}

function findByName(keys: string[], field: keyof typeof HEADER_NAMES, taken: Set<number>): number {
  for (const name of HEADER_NAMES[field]) {
    const i = keys.findIndex((k, idx) => k === name && !taken.has(idx));
    if (i !== -1) return i;
  }
  return -1;
}

/**
 * Detects the format and mapping of a file from its first bytes, with every option the client gave
 * in `query` taking precedence. `fallbackCurrency` (the user's budget currency) is the currency of
 * rows without one unless `query.defaultCurrency` is given.
 * @throws OptionError naming the parameter to set when something cannot be detected or a given
 *   column does not exist (the preview shows the same message next to the field).
 */
export function detectFormat(head: Buffer, complete: boolean, query: ImportQuery = {}, fallbackCurrency = 'USD'): Detection {
  const { sample, delimiter } = readSample(head, complete, query.delimiter);
  const warnings: string[] = [];
  const records = sample.records;
  const header = query.header ?? detectHeader(records);
  const width = Math.max(...records.slice(0, SAMPLE_RECORDS).map((r) => r.length));
  const columns = header
    ? Array.from({ length: width }, (_, i) => records[0]![i]?.trim() || `Column ${i + 1}`)
    : Array.from({ length: width }, (_, i) => `Column ${i + 1}`);
  const rows = header ? records.slice(1) : records;
  if (rows.length === 0) throw new OptionError('file', 'has no rows below its header');
  const keys = columns.map(headerKey);
  const taken = new Set<number>();
  const pick = (field: keyof typeof HEADER_NAMES, given: string | undefined, guess: () => number): number | null => {
    // `none` turns an optional column off (unless a column is named so), e.g. to use the default category.
    if (given !== undefined && OPTIONAL_COLUMNS.has(field) && headerKey(given) === 'none' && !keys.includes('none')) return null;
    if (given !== undefined) {
      const i = resolveColumn(field, given, columns);
      taken.add(i);
      return i;
    }
    let i = header ? findByName(keys, field, taken) : -1;
    if (i === -1) i = guess();
    if (i === -1) return null;
    taken.add(i);
    return i;
  };

  const date = pick('date', query.date, () => columns.findIndex((_, i) => !taken.has(i) && share(values(rows, i), isDateLike) >= 0.8));
  if (date === null) throw new OptionError('date', 'no column of dates found: name the date column');
  // A debit column is used when asked for, or when a header names one and no column is named amount.
  const debitByName = query.amount === undefined && query.debit === undefined && header && findByName(keys, 'amount', taken) === -1;
  const debitRef = query.debit ?? (debitByName && findByName(keys, 'debit', taken) !== -1 ? String(findByName(keys, 'debit', taken) + 1) : undefined);
  const debit = query.amount === undefined && debitRef !== undefined ? pick('debit', debitRef, () => -1) : null;
  let amount: number | null = null;
  if (debit === null) {
    amount = pick('amount', query.amount, () => {
      let best = -1;
      let bestScore = 0;
      columns.forEach((_, i) => {
        const score = taken.has(i) ? 0 : amountScore(values(rows, i));
        if (score > bestScore) [best, bestScore] = [i, score];
      });
      return best;
    });
    if (amount === null) throw new OptionError('amount', 'no column of amounts found: name the amount (or debit) column');
  }
  const currency = pick('currency', query.currency, () =>
    columns.findIndex((_, i) => !taken.has(i) && share(values(rows, i), (v) => isCurrency(v.toUpperCase())) === 1 && values(rows, i).length > 0),
  );
  const category = query.category !== undefined || header ? pick('category', query.category, () => -1) : null;

  let description: number[];
  if (query.description !== undefined) {
    description = query.description.map((ref) => resolveColumn('description', ref, columns));
  } else {
    description = [];
    if (header) {
      const first = findByName(keys, 'description', taken);
      if (first !== -1) {
        description.push(first);
        taken.add(first);
        // A payee column is best followed by the purpose/memo column, when there is one.
        if (PAYEE_KEYS.has(keys[first]!)) {
          const second = findByName(keys, 'description', taken);
          if (second !== -1 && !PAYEE_KEYS.has(keys[second]!)) description.push(second);
        }
      }
    }
    if (description.length === 0) {
      // The free-text column: the longest average text among columns that are not numbers or dates.
      let best = -1;
      let bestLen = 0;
      columns.forEach((_, i) => {
        if (taken.has(i)) return;
        const vs = values(rows, i);
        if (vs.length === 0 || share(vs, isAmountLike) > 0.5 || share(vs, isDateLike) > 0.5) return;
        const avg = vs.reduce((n, v) => n + v.length, 0) / vs.length;
        if (avg > bestLen) [best, bestLen] = [i, avg];
      });
      if (best !== -1) description.push(best);
    }
  }

  const moneyCol = (amount ?? debit)!;
  const moneyValues = values(rows, moneyCol);
  const dec = query.decimal ? { decimal: query.decimal, sure: true } : detectDecimal(moneyValues, delimiter);
  if (!dec.sure) warnings.push(`decimal: no amount with a fraction in the first rows; assuming "${dec.decimal}"`);

  let dateFormat = query.dateFormat;
  if (dateFormat === undefined) {
    const candidates = dateCandidates(values(rows, date), dec.decimal);
    if (candidates.length === 0) {
      const example = values(rows, date)[0] ?? '';
      throw new OptionError('dateFormat', `cannot read dates like ${JSON.stringify(example)}: choose the date format`);
    }
    dateFormat = candidates[0]!;
    const ambiguous = candidates.filter((c) => c !== dateFormat && (c.startsWith('MM') !== dateFormat!.startsWith('MM')));
    if (ambiguous.length > 0) {
      throw new OptionError('dateFormat', `ambiguous: the first rows read as ${dateFormat} and as ${ambiguous[0]}; choose the date format`);
    }
  }

  let expenses: ExpenseSign = query.expenses ?? 'negative';
  if (query.expenses === undefined && amount !== null) {
    const parsed = moneyValues.map((v) => parseAmount(v, dec.decimal, 3)).filter((p) => typeof p === 'object');
    const negatives = parsed.filter((p) => p.negative).length;
    if (parsed.length > 0 && negatives === 0) {
      expenses = 'positive';
      warnings.push('expenses: no negative amount in the first rows; treating positive amounts as expenses');
    }
  }

  return {
    options: {
      format: { delimiter, decimal: dec.decimal, dateFormat, header, lineBreak: sample.crOnly ? 'CR' : 'LF' },
      columns,
      mapping: { date, amount, debit, currency, category, description },
      defaultCurrency: query.defaultCurrency ?? fallbackCurrency,
      defaultCategory: query.defaultCategory ?? DEFAULT_CATEGORY,
      expenses,
    },
    sample,
    warnings,
  };
}

function share(vs: string[], pred: (v: string) => boolean): number {
  if (vs.length === 0) return 0;
  let n = 0;
  for (const v of vs) if (pred(v)) n++;
  return n / vs.length;
}
