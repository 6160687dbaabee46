import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { dateParser, parseAmount } from '../../src/imports/formats.js';
import { detectFormat } from '../../src/imports/detect.js';
import { RowNormalizer, type RowResult } from '../../src/imports/normalize.js';
import { CsvFormatError, readRecords, type CsvRecord } from '../../src/imports/reader.js';
import { OptionError, importQuerySchema, type ImportOptions } from '../../src/imports/options.js';
import { fingerprint, OccurrenceCounter } from '../../src/imports/fingerprint.js';

describe('dates', () => {
  it.each([
    ['YYYY-MM-DD', '2024-03-05', '2024-03-05'],
    ['YYYY-MM-DD', '2024-03-05T23:10:00Z', '2024-03-05'],
    ['YYYY-MM-DD', '2024-3-5', '2024-03-05'],
    ['DD.MM.YYYY', '05.03.2024', '2024-03-05'],
    ['DD.MM.YYYY', ' 5.3.2024 ', '2024-03-05'],
    ['DD/MM/YYYY', '29/02/2024', '2024-02-29'],
    ['MM/DD/YYYY', '12/31/2023', '2023-12-31'],
    ['DD-MM-YYYY', '01-12-2023', '2023-12-01'],
    ['YYYY/MM/DD', '2023/12/01', '2023-12-01'],
    ['YYYYMMDD', '20231201', '2023-12-01'],
    ['DD.MM.YY', '01.12.23', '2023-12-01'],
    ['DD.MM.YY', '01.12.69', '1969-12-01'],
    ['MM/DD/YY', '12/01/68', '2068-12-01'],
  ] as const)('%s reads %j', (format, text, iso) => {
    expect(dateParser(format)(text)).toBe(iso);
  });

  it.each([
    ['DD.MM.YYYY', '31.02.2024'],
    ['DD/MM/YYYY', '29/02/2023'],
    ['MM/DD/YYYY', '13/01/2024'],
    ['YYYY-MM-DD', '1850-01-01'],
    ['YYYY-MM-DD', '05.03.2024'],
    ['DD.MM.YYYY', ''],
    ['DD.MM.YYYY', '05.03.2024 extra'],
  ] as const)('%s rejects %j', (format, text) => {
    expect(dateParser(format)(text)).toBeUndefined();
  });
});

describe('amounts', () => {
  it.each([
    ['-12.50', '.', 2, 1250, true],
    ['12.5', '.', 2, 1250, false],
    ['1,234.56', '.', 2, 123456, false],
    ['-1.234,56', ',', 2, 123456, true],
    ['1 234,56', ',', 2, 123456, false],
    ['1\u00a0234,56', ',', 2, 123456, false],
    ["1'234.50", '.', 2, 123450, false],
    ['12,50-', ',', 2, 1250, true],
    ['(12.50)', '.', 2, 1250, true],
    ['\u221212.50', '.', 2, 1250, true],
    ['+7', '.', 2, 700, false],
    ['€ -3,10', ',', 2, 310, true],
    ['-3.10 $', '.', 2, 310, true],
    ['1234', '.', 0, 1234, false],
    ['1.234', ',', 0, 1234, false],
    ['12.345', '.', 3, 12345, false],
    ['12.500', '.', 2, 1250, false],
    ['.5', '.', 2, 50, false],
  ] as const)('%j (%s, %i digits) = %i', (text, decimal, digits, cents, negative) => {
    expect(parseAmount(text, decimal, digits)).toEqual({ cents, negative });
  });

  it('reads a currency code printed in the cell', () => {
    expect(parseAmount('-12,50 EUR', ',', 2)).toEqual({ cents: 1250, negative: true, code: 'EUR' });
    expect(parseAmount('USD 3.00', '.', 2)).toEqual({ cents: 300, negative: false, code: 'USD' });
  });

  it.each([
    ['', 'empty'],
    ['abc', 'not_a_number'],
    ['12,3,4', 'not_a_number'],
    ['12.', 'not_a_number'],
    ['1e5', 'not_a_number'],
    ['12.345', 'too_many_decimals'],
    ['99999999999999999999', 'too_large'],
  ] as const)('%j is %s', (text, problem) => {
    expect(parseAmount(text, '.', 2)).toBe(problem);
  });
});

const csv = (s: string) => Buffer.from(s);

describe('format detection', () => {
  it('German bank export: semicolons, decimal comma, DD.MM.YYYY, BOM, payee + purpose', () => {
    const d = detectFormat(
      csv(
        '\ufeffBuchungstag;Valutadatum;Beguenstigter/Zahlungspflichtiger;Verwendungszweck;Betrag;Waehrung;Kategorie\n' +
          '05.03.2024;05.03.2024;REWE Markt;Karte 1234;-23,45;EUR;Lebensmittel\n' +
          '06.03.2024;06.03.2024;Arbeitgeber GmbH;Gehalt;2.500,00;EUR;Einkommen\n',
      ),
      true,
    );
    expect(d.sample.bom).toBe(true);
    expect(d.options.format).toEqual({ delimiter: ';', decimal: ',', dateFormat: 'DD.MM.YYYY', header: true, lineBreak: 'LF' });
    expect(d.options.mapping).toEqual({ date: 0, amount: 4, debit: null, currency: 5, category: 6, description: [2, 3] });
    expect(d.options.expenses).toBe('negative');
  });

  it('US card export: commas, quoted thousands, MM/DD/YYYY, positive charges', () => {
    const d = detectFormat(
      csv('Transaction Date,Description,Category,Amount\n01/15/2024,"STARBUCKS #123",Dining,4.75\n01/16/2024,"AMAZON, INC","Shopping","1,204.10"\n'),
      true,
    );
    expect(d.options.format).toEqual({ delimiter: ',', decimal: '.', dateFormat: 'MM/DD/YYYY', header: true, lineBreak: 'LF' });
    expect(d.options.mapping).toMatchObject({ date: 0, amount: 3, category: 2, description: [1] });
    expect(d.options.expenses).toBe('positive');
    expect(d.warnings.join()).toMatch(/positive amounts as expenses/);
  });

  it('category=none and currency=none turn detected columns off; a column named "none" is still a column', () => {
    const file = csv('Date;Text;Amount;Currency;Category\n2024-01-02;Coffee;-1,50;EUR;Food\n2024-01-03;Bus;-2,00;EUR;Travel\n');
    expect(detectFormat(file, true).options.mapping).toMatchObject({ currency: 3, category: 4 });
    expect(detectFormat(file, true, { category: 'none', currency: 'None' }).options.mapping).toMatchObject({ currency: null, category: null });
    const named = csv('Date;Text;Amount;None\n2024-01-02;Coffee;-1,50;Food\n');
    expect(detectFormat(named, true, { category: 'none' }).options.mapping).toMatchObject({ category: 3 });
    expect(() => detectFormat(file, true, { amount: 'none' })).toThrow(/amount: no column "none"/);
  });

  it('no header: finds date, amount and the text column by content', () => {
    const d = detectFormat(csv('2024-01-02\t-10.00\tCoffee shop downtown\n2024-01-03\t-2.50\tBus ticket\n'), true);
    expect(d.options.format).toMatchObject({ delimiter: '\t', header: false, dateFormat: 'YYYY-MM-DD' });
    expect(d.options.columns).toEqual(['Column 1', 'Column 2', 'Column 3']);
    expect(d.options.mapping).toMatchObject({ date: 0, amount: 1, description: [2] });
  });

  it('a debit column when there is no signed amount', () => {
    const d = detectFormat(csv('Date,Details,Debit,Credit\n2024-01-02,Rent,800.00,\n2024-01-03,Refund,,20.00\n'), true);
    expect(d.options.mapping).toMatchObject({ amount: null, debit: 2, description: [1] });
  });

  it('ambiguous day/month order is refused with the parameter to set', () => {
    expect(() => detectFormat(csv('date,amount,text\n01/02/2024,-1.00,a\n03/04/2024,-2.00,b\n'), true)).toThrow(OptionError);
    try {
      detectFormat(csv('date,amount,text\n01/02/2024,-1.00,a\n'), true);
    } catch (err) {
      expect((err as OptionError).field).toBe('dateFormat');
    }
    const d = detectFormat(csv('date,amount,text\n01/02/2024,-1.00,a\n'), true, { dateFormat: 'DD/MM/YYYY' });
    expect(d.options.format.dateFormat).toBe('DD/MM/YYYY');
  });

  it('given columns win, by name or number; an unknown one is named', () => {
    const d = detectFormat(csv('a;b;c\n2024-01-01;x;-1,00\n'), true, { date: 'A', amount: '3', description: ['b'] });
    expect(d.options.mapping).toMatchObject({ date: 0, amount: 2, description: [1] });
    expect(() => detectFormat(csv('a;b;c\n2024-01-01;x;-1,00\n'), true, { amount: 'Betrag' })).toThrow(/amount: no column "Betrag"/);
  });

  it('refuses binary and non-UTF-8 files', () => {
    expect(() => detectFormat(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00]), true)).toThrow(/binary/);
    expect(() => detectFormat(Buffer.from('Datum;Betrag;Text\n01.02.2024;-1,00;M\xfcller\n', 'latin1'), true)).toThrow(/not UTF-8/);
  });

  it('query parameters are validated with the field named', () => {
    const bad = importQuerySchema.safeParse({ dateFormat: 'DD.MM', delimiter: ';;', defaultCurrency: 'XXY' });
    expect(bad.success).toBe(false);
    const fields = bad.error!.issues.map((i) => i.path[0]);
    expect(fields).toEqual(expect.arrayContaining(['dateFormat', 'delimiter', 'defaultCurrency']));
    expect(importQuerySchema.parse({ delimiter: 'tab', description: ['Payee|Memo', 'Note'] })).toMatchObject({
      delimiter: '\t',
      description: ['Payee', 'Memo', 'Note'],
    });
  });
});

const options = (over: Partial<ImportOptions['mapping']> = {}, rest: Partial<ImportOptions> = {}): ImportOptions => ({
  format: { delimiter: ';', decimal: ',', dateFormat: 'DD.MM.YYYY', header: true, lineBreak: 'LF' },
  columns: ['Datum', 'Betrag', 'Währung', 'Kategorie', 'Text', 'Notiz'],
  mapping: { date: 0, amount: 1, debit: null, currency: 2, category: 3, description: [4, 5], ...over },
  defaultCurrency: 'EUR',
  defaultCategory: 'Uncategorized',
  expenses: 'negative',
  ...rest,
});

describe('row normalization', () => {
  const n = new RowNormalizer(options(), ['Groceries']);
  const row = (fields: string[]) => n.normalize(fields);
  const ok = (r: RowResult) => (r.kind === 'row' ? r.row : expect.fail(`${r.kind}: ${'reason' in r ? r.reason : ''}`));

  it('normalizes a row', () => {
    const r = ok(row(['05.03.2024', '-1.234,50', 'eur', ' groceries ', 'REWE  Markt\t12', 'Karte']));
    expect(r).toMatchObject({ spentOn: '2024-03-05', amountCents: 123450, currency: 'EUR', category: 'Groceries', description: 'REWE Markt 12 · Karte' });
    expect(r.contentHash).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('the content hash ignores category and letter case of the description, not the amount', () => {
    const a = ok(row(['05.03.2024', '-1,00', 'EUR', 'A', 'Shop', '']));
    const b = ok(row(['05.03.2024', '-1,00', 'EUR', 'B', 'SHOP', '']));
    const c = ok(row(['05.03.2024', '-1,01', 'EUR', 'A', 'Shop', '']));
    expect(a.contentHash).toBe(b.contentHash);
    expect(a.contentHash).not.toBe(c.contentHash);
  });

  it('uses the minor digits of the row currency', () => {
    expect(ok(row(['05.03.2024', '-1.234', 'JPY', '', 'x', ''])).amountCents).toBe(1234);
    expect(ok(row(['05.03.2024', '-1,234', 'KWD', '', 'x', ''])).amountCents).toBe(1234);
    expect(row(['05.03.2024', '-1,234', 'EUR', '', 'x', ''])).toEqual({ kind: 'error', reason: 'Betrag: "-1,234" has more decimal places than the currency allows' });
  });

  it('skips credits and zero amounts, reports bad cells with the column named', () => {
    expect(row(['05.03.2024', '12,00', 'EUR', '', '', ''])).toEqual({ kind: 'skip', reason: 'credit' });
    expect(row(['05.03.2024', '0,00', 'EUR', '', '', ''])).toEqual({ kind: 'skip', reason: 'zero amount' });
    expect(row(['31.02.2024', '-1,00', 'EUR', '', '', ''])).toEqual({ kind: 'error', reason: 'Datum: "31.02.2024" is not a DD.MM.YYYY date between 1900 and 2999' });
    expect(row(['05.03.2024', 'zwölf', 'EUR', '', '', ''])).toEqual({ kind: 'error', reason: 'Betrag: "zwölf" is not a number' });
    expect(row(['05.03.2024', '-1,00', 'EURO', '', '', ''])).toEqual({ kind: 'error', reason: 'Währung: "EURO" is not an ISO 4217 currency code' });
    expect(row(['05.03.2024', '-1,00', 'EUR', 'x'.repeat(41), '', ''])).toMatchObject({ kind: 'error', reason: expect.stringMatching(/longer than 40/) });
    expect(row(['05.03.2024', '-1,00'])).toEqual({ kind: 'error', reason: 'expected at least 6 columns, found 2 (check the separator)' });
    expect(row([''])).toEqual({ kind: 'blank' });
    expect(row(['05.03.2024', '-1,00', 'EUR', '', 'M\uFFFDller', ''])).toEqual({ kind: 'error', reason: 'not valid UTF-8 (export the statement as UTF-8)' });
  });

  it('removes control characters (NUL included) and cuts long descriptions to 500 characters', () => {
    const r = ok(row(['05.03.2024', '-1,00', 'EUR', 'A\u0000B', 'x\u0000y', 'é'.repeat(600)]));
    expect(r.category).toBe('A B');
    expect([...r.description]).toHaveLength(500);
    expect(r.description.startsWith('x y · ééé')).toBe(true);
  });

  it('falls back to the default currency and category; a code in the amount cell wins over the default', () => {
    const m = new RowNormalizer(options({ currency: null, category: null }));
    expect(ok(m.normalize(['05.03.2024', '-3,00', '', '', 'x', '']))).toMatchObject({ currency: 'EUR', category: 'Uncategorized' });
    expect(ok(m.normalize(['05.03.2024', '-3,00 CHF', '', '', 'x', '']))).toMatchObject({ currency: 'CHF', amountCents: 300 });
  });

  it('debit columns: a filled cell is an expense, an empty one a credit', () => {
    const m = new RowNormalizer(options({ amount: null, debit: 1 }));
    expect(ok(m.normalize(['05.03.2024', '3,00', 'EUR', '', 'x', '']))).toMatchObject({ amountCents: 300 });
    expect(m.normalize(['05.03.2024', '', 'EUR', '', 'x', ''])).toEqual({ kind: 'skip', reason: 'credit (empty debit)' });
  });
});

async function readAll(text: string | Buffer, opts: Parameters<typeof readRecords>[1]) {
  const records: (CsvRecord & { raw: string })[] = [];
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  // Small chunks: records and line breaks straddle chunk boundaries.
  const chunks = [];
  for (let i = 0; i < buf.length; i += 7) chunks.push(buf.subarray(i, i + 7));
  for await (const batch of readRecords(Readable.from(chunks), opts)) {
    for (const r of batch.records) records.push({ ...r, raw: batch.raw(r) });
  }
  return records;
}

describe('reader', () => {
  it('gives each record its start line and the byte offset after it (BOM, CRLF, quoted newlines, blank lines)', async () => {
    const text = '\ufeffh1;h2\r\n1;"a\r\nb"\r\n\r\n2;"x""y"\r\n3;z';
    const rs = await readAll(text, { delimiter: ';' });
    expect(rs.map((r) => [r.fields, r.line])).toEqual([
      [['h1', 'h2'], 1],
      [['1', 'a\r\nb'], 2],
      [[''], 4],
      [['2', 'x"y'], 5],
      [['3', 'z'], 6],
    ]);
    const bytes = Buffer.from(text);
    expect(rs.map((r) => r.end)).toEqual([
      bytes.indexOf('1;"a'),
      bytes.indexOf('\r\n\r\n') + 2,
      bytes.indexOf('2;"x'),
      bytes.indexOf('3;z'),
      bytes.length,
    ]);
    expect(rs[1]!.raw).toBe('1;"a\r\nb"');
  });

  it('resumes from a checkpoint with the same positions', async () => {
    const text = 'd;a\n2024-01-01;1\n2024-01-02;"multi\nline"\n2024-01-03;3\n';
    const all = await readAll(text, { delimiter: ';' });
    const cp = all[1]!;
    const rest = await readAll(Buffer.from(text).subarray(cp.end), { delimiter: ';', start: cp.end, line: all[2]!.line });
    expect(rest.map((r) => [r.fields, r.line, r.end])).toEqual(all.slice(2).map((r) => [r.fields, r.line, r.end]));
  });

  it('an unclosed quote is a format error at the line it starts on, with bounded memory', async () => {
    const text = 'a;b\n1;ok\n2;"never closed\n' + '3;x\n'.repeat(50_000);
    await expect(readAll(text, { delimiter: ';' })).rejects.toThrow(CsvFormatError);
    await expect(readAll(text, { delimiter: ';' })).rejects.toThrow(/^line 3: a record is longer than 65536 bytes/);
    await expect(readAll('a;b\n1;"open\n2;x\n', { delimiter: ';' })).rejects.toThrow('line 2: a quoted field is never closed');
  });

  it('counts lone CR line endings when told to', async () => {
    const rs = await readAll('a;b\r1;2\r3;4\r', { delimiter: ';', crOnly: true });
    expect(rs.map((r) => r.line)).toEqual([1, 2, 3]);
  });
});

describe('fingerprints while reading', () => {
  it('numbers equal rows per day and gives up once a day comes back', () => {
    const c = new OccurrenceCounter();
    const a = c.next('2024-01-01', 'h1');
    expect(c.next('2024-01-01', 'h1')).toBe(fingerprint('h1', 2));
    expect(a).toBe(fingerprint('h1', 1));
    expect(c.next('2024-01-02', 'h1')).toBe(fingerprint('h1', 1)); // a new day numbers from 1
    expect(c.grouped).toBe(true);
    expect(c.next('2024-01-01', 'h2')).toBeNull();
    expect(c.grouped).toBe(false);
    expect(c.next('2024-01-03', 'h3')).toBeNull();
  });

  it('resumes with the days seen and the counts of the last one', () => {
    const c = OccurrenceCounter.resume(['2024-01-01', '2024-01-02'], '2024-01-02', [['h1', 2]], true);
    expect(c.next('2024-01-02', 'h1')).toBe(fingerprint('h1', 3));
    expect(c.next('2024-01-01', 'h1')).toBeNull();
  });
});
