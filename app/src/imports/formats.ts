/**
 * The value formats a bank-statement CSV may use, and the parsers that turn one cell into the
 * expense tracker's canonical form: ISO dates (`YYYY-MM-DD`) and integer minor units (cents).
 *
 * Parsers are pure, allocation-light functions: they run once per cell of files with many
 * millions of rows. Each returns `undefined` for a value it cannot read; the caller turns that into
 * a per-row error naming the column and the value.
 */

/**
 * Date layouts found in bank exports. `D`/`M` accept one or two digits (`5.3.2024`). Two-digit
 * years follow POSIX `strptime` `%y`: 69-99 are 1969-1999, 00-68 are 2000-2068.
 * `YYYY-MM-DD` also accepts a time after the date (`2024-03-05T10:00:00Z`, `2024-03-05 10:00`),
 * which is dropped: the tracker stores calendar dates.
 */
export const DATE_FORMATS = [
  'YYYY-MM-DD',
  'DD.MM.YYYY',
  'DD/MM/YYYY',
  'MM/DD/YYYY',
  'DD-MM-YYYY',
  'YYYY/MM/DD',
  'YYYYMMDD',
  'DD.MM.YY',
  'DD/MM/YY',
  'MM/DD/YY',
] as const;
export type DateFormat = (typeof DATE_FORMATS)[number];

/** Field separators recognised by detection (any single character may be given explicitly). */
export const DELIMITERS = [',', ';', '\t', '|'] as const;

/** Decimal separators: `.` (1,234.56) or `,` (1.234,56). */
export const DECIMAL_SEPARATORS = ['.', ','] as const;
export type DecimalSeparator = (typeof DECIMAL_SEPARATORS)[number];

/** Oldest and newest dates the tracker accepts (as the JSON API does). */
const MIN_YEAR = 1900;
const MAX_YEAR = 2999;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `YYYY-MM-DD` for a valid calendar date within the accepted years, else undefined. */
function isoDate(y: number, m: number, d: number): string | undefined {
  if (y < MIN_YEAR || y > MAX_YEAR || m < 1 || m > 12 || d < 1) return undefined;
  const max = m === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[m - 1]!;
  if (d > max) return undefined;
  return `${y}-${pad2(m)}-${pad2(d)}`;
}

/** POSIX `%y` pivot: 69-99 -> 19xx, 00-68 -> 20xx. */
function fullYear(yy: number): number {
  return yy >= 69 ? 1900 + yy : 2000 + yy;
}

const PATTERNS: Record<DateFormat, { re: RegExp; order: 'ymd' | 'dmy' | 'mdy'; shortYear: boolean }> = {
  'YYYY-MM-DD': { re: /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/, order: 'ymd', shortYear: false },
  'DD.MM.YYYY': { re: /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/, order: 'dmy', shortYear: false },
  'DD/MM/YYYY': { re: /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/, order: 'dmy', shortYear: false },
  'MM/DD/YYYY': { re: /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/, order: 'mdy', shortYear: false },
  'DD-MM-YYYY': { re: /^(\d{1,2})-(\d{1,2})-(\d{4})$/, order: 'dmy', shortYear: false },
  'YYYY/MM/DD': { re: /^(\d{4})\/(\d{1,2})\/(\d{1,2})$/, order: 'ymd', shortYear: false },
  YYYYMMDD: { re: /^(\d{4})(\d{2})(\d{2})$/, order: 'ymd', shortYear: false },
  'DD.MM.YY': { re: /^(\d{1,2})\.(\d{1,2})\.(\d{2})$/, order: 'dmy', shortYear: true },
  'DD/MM/YY': { re: /^(\d{1,2})\/(\d{1,2})\/(\d{2})$/, order: 'dmy', shortYear: true },
  'MM/DD/YY': { re: /^(\d{1,2})\/(\d{1,2})\/(\d{2})$/, order: 'mdy', shortYear: true },
};

/**
 * Returns a parser for one date layout: text (surrounding spaces allowed) -> `YYYY-MM-DD`, or
 * undefined when the text is not a valid date in that layout (31.02.2024, 13/13/2024, year 1850).
 * The parser remembers its last input: statements list many rows per day.
 */
export function dateParser(format: DateFormat): (text: string) => string | undefined {
  const { re, order, shortYear } = PATTERNS[format];
  let lastIn: string | undefined;
  let lastOut: string | undefined;
  return (text: string) => {
    if (text === lastIn) return lastOut;
    const m = re.exec(text.trim());
    let out: string | undefined;
    if (m) {
      const a = Number(m[1]);
      const b = Number(m[2]);
      let c = Number(m[3]);
      if (shortYear) c = fullYear(c);
      out = order === 'ymd' ? isoDate(a, b, c) : order === 'dmy' ? isoDate(c, b, a) : isoDate(c, a, b);
    }
    lastIn = text;
    lastOut = out;
    return out;
  };
}

/** Currency signs a bank may print next to an amount; they are ignored (the currency is a column or a default). */
const CURRENCY_SIGNS = /[€$£¥₹₩₽₺₪₫₴₦₱฿]/g;
/**
 * Integer parts with thousands separators: the other one of `.`/`,`, an apostrophe (Swiss), or a
 * space (plain, no-break, narrow no-break, thin), always grouping by three digits.
 */
const GROUPED_DOT = /^\d{1,3}(?:([,' \u00a0\u202f\u2009])\d{3})(?:\1\d{3})*$/;
const GROUPED_COMMA = /^\d{1,3}(?:([.' \u00a0\u202f\u2009])\d{3})(?:\1\d{3})*$/;

export interface ParsedAmount {
  /** Minor units (cents), always >= 0. */
  cents: number;
  /** True for a negative amount (`-12.50`, `12.50-`, `(12.50)`, `−12.50`). */
  negative: boolean;
  /** A three-letter code printed inside the cell (`12.50 EUR`), upper-cased; not validated here. */
  code?: string;
}

/** Reason an amount could not be read, for the per-row error. */
export type AmountProblem = 'empty' | 'not_a_number' | 'too_many_decimals' | 'too_large';

/**
 * Parses a money cell into minor units with `minorDigits` fraction digits (2 for EUR, 0 for JPY,
 * 3 for KWD). Accepts a sign before or after the number, accounting parentheses, the Unicode minus,
 * thousands separators (the other one of `.`/`,`, spaces, `'`), a currency sign, and a three-letter
 * code before or after the number. Returns a {@link ParsedAmount} or the problem found.
 */
export function parseAmount(text: string, decimal: DecimalSeparator, minorDigits: number): ParsedAmount | AmountProblem {
  let s = text.trim();
  if (s === '') return 'empty';
  let code: string | undefined;
  const codeMatch = /^([A-Za-z]{3})\s*(?=[-+(\d.,−])|(?<=[\d)\-−])\s*([A-Za-z]{3})$/.exec(s);
  if (codeMatch) {
    code = (codeMatch[1] ?? codeMatch[2])!.toUpperCase();
    s = (codeMatch[1] ? s.slice(codeMatch[0].length) : s.slice(0, s.length - codeMatch[0].length)).trim();
  }
  if (s.includes('€') || /[$£¥₹₩₽₺₪₫₴₦₱฿]/.test(s)) s = s.replace(CURRENCY_SIGNS, '').trim();
  let negative = false;
  if (s.startsWith('(') && s.endsWith(')')) {
    negative = true;
    s = s.slice(1, -1).trim();
  }
  const first = s.charCodeAt(0);
  if (first === 45 /* - */ || first === 0x2212 /* − */) {
    negative = !negative;
    s = s.slice(1).trim();
  } else if (first === 43 /* + */) {
    s = s.slice(1).trim();
  } else if (s.endsWith('-')) {
    negative = !negative;
    s = s.slice(0, -1).trim();
  }
  const dot = s.indexOf(decimal);
  let int = dot === -1 ? s : s.slice(0, dot);
  const frac = dot === -1 ? '' : s.slice(dot + 1);
  if (!/^\d*$/.test(int)) {
    // Thousands separators must group by three: 1.234.567,89 but not 12.3.4.
    const groups = decimal === ',' ? GROUPED_COMMA : GROUPED_DOT;
    if (!groups.test(int)) return 'not_a_number';
    int = int.replace(/\D/g, '');
  }
  if (int === '' && frac === '') return 'not_a_number';
  if (frac !== '' && !/^\d+$/.test(frac)) return 'not_a_number';
  if (dot !== -1 && frac === '') return 'not_a_number';
  let fraction = frac;
  // Trailing zeros beyond the currency's digits carry no value (`12.500` EUR).
  if (fraction.length > minorDigits) {
    const extra = fraction.slice(minorDigits);
    if (/[^0]/.test(extra)) return 'too_many_decimals';
    fraction = fraction.slice(0, minorDigits);
  }
  const whole = int === '' ? 0 : Number(int);
  const cents = whole * 10 ** minorDigits + (minorDigits === 0 ? 0 : Number(fraction.padEnd(minorDigits, '0')));
  if (!Number.isSafeInteger(cents)) return 'too_large';
  return code === undefined ? { cents, negative } : { cents, negative, code };
}
