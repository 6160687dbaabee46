/**
 * A deterministic generator of large bank-statement CSV files for the import tests and
 * `bench/import.ts`, shaped like a German online-banking export: UTF-8 with BOM, `;` separators,
 * decimal comma with thousands dots, quoted fields, a header row, DD.MM.YYYY dates, eleven
 * columns of which the import maps six. Rows are in date order, `rowsPerDay` per day from
 * 2001-01-01.
 *
 * Besides ordinary card payments it writes, at fixed positions: identical twin rows (two equal
 * payments on one day, both real), credits (positive amounts, which the import skips) and, when
 * asked, malformed rows (bad date, bad amount, too few columns) whose line numbers it reports.
 * The {@link StatementSummary} is exact, so tests compare the database with it.
 */
import { Readable } from 'node:stream';

export interface StatementOptions {
  /** Stop once at least this many bytes are written (the last row is completed). */
  targetBytes: number;
  /** Rows per calendar day (default 1500). */
  rowsPerDay?: number;
  /** Every n-th row repeats the previous one exactly (default 997; 0 = never). */
  twinEvery?: number;
  /** Every n-th row is a credit (default 41; 0 = never). */
  creditEvery?: number;
  /** Every n-th row is malformed (default 0 = never). */
  malformedEvery?: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /**
   * `sorted` (default): days ascend, each day's rows together, as banks export. `interleaved`:
   * consecutive rows fall on different days (a file not grouped by day).
   */
  dayOrder?: 'sorted' | 'interleaved';
}

export interface StatementSummary {
  bytes: number;
  /** Physical lines, header included. */
  lines: number;
  /** Data rows (everything but the header). */
  rows: number;
  /** Rows that become expenses. */
  expenses: number;
  credits: number;
  /** Line numbers of malformed rows, ascending. */
  errorLines: number[];
  /** Expense count and sum of cents per category. */
  byCategory: Record<string, { count: number; cents: number }>;
  firstDate: string;
  lastDate: string;
}

/** Import options (query parameters) that read this format exactly. */
export const STATEMENT_QUERY = {
  delimiter: ';',
  decimal: ',',
  dateFormat: 'DD.MM.YYYY',
  header: 'true',
  date: 'Buchungstag',
  amount: 'Betrag',
  currency: 'Währung',
  category: 'Kategorie',
  description: ['Auftraggeber / Begünstigter', 'Verwendungszweck'],
  expenses: 'negative',
} as const;

const HEADER =
  'Buchungstag;Valutadatum;Buchungstext;Auftraggeber / Begünstigter;Verwendungszweck;IBAN;BIC;Betrag;Währung;Kategorie;Saldo\r\n';

const MERCHANTS: [string, string][] = [
  ['REWE Markt GmbH', 'Lebensmittel'],
  ['ALDI SUED', 'Lebensmittel'],
  ['Lidl Dienstleistung', 'Lebensmittel'],
  ['Deutsche Bahn Fernverkehr', 'Transport'],
  ['Shell Station 4711', 'Transport'],
  ['Amazon EU S.a r.l.', 'Shopping'],
  ['Zalando SE', 'Shopping'],
  ['Netflix International', 'Freizeit'],
  ['Spotify AB', 'Freizeit'],
  ['Starbucks Coffee', 'Essen gehen'],
  ['Ristorante "Da Mario"', 'Essen gehen'],
  ['Stadtwerke München', 'Nebenkosten'],
  ['Vodafone GmbH', 'Nebenkosten'],
  ['Apotheke am Markt', 'Gesundheit'],
  ['Hausverwaltung Schmidt', 'Miete'],
];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `1.234,56` for 123456 cents (German grouping). */
export function germanAmount(cents: number): string {
  const neg = cents < 0;
  const abs = Math.abs(cents);
  const euros = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, '.');
  return `${neg ? '-' : ''}${euros},${String(abs % 100).padStart(2, '0')}`;
}

const pad = (n: number) => (n < 10 ? `0${n}` : String(n));
const DAY_MS = 86_400_000;
const EPOCH = Date.UTC(2001, 0, 1);

/**
 * Generates a statement. Returns the byte stream (read it once) and a promise of its summary,
 * settled when the stream has ended.
 */
export function generateStatement(opts: StatementOptions): { stream: Readable; summary: Promise<StatementSummary> } {
  const rowsPerDay = opts.rowsPerDay ?? 1500;
  const twinEvery = opts.twinEvery ?? 997;
  const creditEvery = opts.creditEvery ?? 41;
  const malformedEvery = opts.malformedEvery ?? 0;
  const rnd = mulberry32(opts.seed ?? 1);
  const summary: StatementSummary = {
    bytes: 0,
    lines: 1,
    rows: 0,
    expenses: 0,
    credits: 0,
    errorLines: [],
    byCategory: {},
    firstDate: '',
    lastDate: '',
  };
  let balance = 1_000_000;
  let prev = '';
  let resolve!: (s: StatementSummary) => void;
  const done = new Promise<StatementSummary>((r) => (resolve = r));
  let headerSent = false;

  const interleaved = opts.dayOrder === 'interleaved';
  function row(i: number): string {
    // Interleaved: a stride through ~3 years of days, so no two neighbouring rows share a day.
    const day = interleaved ? (i * 389) % 1096 : Math.floor(i / rowsPerDay);
    const d = new Date(EPOCH + day * DAY_MS);
    const iso = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    const date = `${pad(d.getUTCDate())}.${pad(d.getUTCMonth() + 1)}.${d.getUTCFullYear()}`;
    if (!summary.firstDate || iso < summary.firstDate) summary.firstDate = iso;
    if (iso > summary.lastDate) summary.lastDate = iso;
    const line = summary.lines + 1;
    if (malformedEvery > 0 && i % malformedEvery === malformedEvery - 1) {
      summary.errorLines.push(line);
      const kind = (i / malformedEvery) % 3 | 0;
      if (kind === 0) return `31.02.2003;${date};Kartenzahlung;"Bad Date AG";"x";DE00;XXX;-1,00;EUR;Lebensmittel;0,00\r\n`;
      if (kind === 1) return `${date};${date};Kartenzahlung;"Bad Amount AG";"x";DE00;XXX;"-12,3,4";EUR;Lebensmittel;0,00\r\n`;
      return `${date};${date};Kartenzahlung\r\n`;
    }
    if (twinEvery > 0 && i % twinEvery === twinEvery - 1 && prev !== '' && (interleaved || prev.startsWith(date))) {
      const [cat, cents] = lastExpense!;
      add(cat, cents);
      return prev;
    }
    if (creditEvery > 0 && i % creditEvery === creditEvery - 1) {
      summary.credits++;
      const cents = 100_000 + Math.floor(rnd() * 400_000);
      balance += cents;
      lastExpense = null;
      prev = '';
      return `${date};${date};Gutschrift;"Arbeitgeber GmbH";"Gehalt ${iso} Ref ${Math.floor(rnd() * 1e9)}";DE02120300000000202051;BYLADEM1001;${germanAmount(cents)};EUR;Einkommen;${germanAmount(balance)}\r\n`;
    }
    const [merchant, cat] = MERCHANTS[Math.floor(rnd() * MERCHANTS.length)]!;
    const cents = 1 + Math.floor(rnd() * (cat === 'Miete' ? 150_000 : 25_000));
    balance -= cents;
    const ref = Math.floor(rnd() * 1e10);
    const text = `${date};${date};Kartenzahlung;"${merchant.replace(/"/g, '""')}";"Kartenzahlung ${iso} Karte 4711 Ref ${ref}";DE44500105175407324931;INGDDEFFXXX;${germanAmount(-cents)};EUR;${cat};${germanAmount(balance)}\r\n`;
    add(cat, cents);
    lastExpense = [cat, cents];
    prev = text;
    return text;
  }
  let lastExpense: [string, number] | null = null;
  function add(cat: string, cents: number) {
    summary.expenses++;
    const c = (summary.byCategory[cat] ??= { count: 0, cents: 0 });
    c.count++;
    c.cents += cents;
  }

  let i = 0;
  const stream = new Readable({
    read() {
      if (summary.bytes >= opts.targetBytes) return;
      let chunk = '';
      if (!headerSent) {
        chunk = `\ufeff${HEADER}`;
        headerSent = true;
      }
      let chunkBytes = Buffer.byteLength(chunk);
      while (chunkBytes < 256 * 1024 && summary.bytes + chunkBytes < opts.targetBytes) {
        const r = row(i++);
        summary.rows++;
        summary.lines++;
        chunk += r;
        chunkBytes += Buffer.byteLength(r);
      }
      const buf = Buffer.from(chunk);
      summary.bytes += buf.length;
      this.push(buf);
      if (summary.bytes >= opts.targetBytes) {
        this.push(null);
        resolve(summary);
      }
    },
  });
  return { stream, summary: done };
}
