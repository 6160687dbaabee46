/**
 * The import pipeline on a real PostgreSQL 15: staging, merging, fingerprints, per-row errors,
 * checkpoints and resumption, staging-table loss, lease fencing. (HTTP and the worker process are
 * covered by imports-api.test.ts and imports-large.test.ts.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '@expense-tracker/testkit/servers/index';
import { migrate } from '../src/db.js';
import { detectFormat } from '../src/imports/detect.js';
import { importQuerySchema } from '../src/imports/options.js';
import { claimNext, createImport, getImportById, markQueued, stagingTable } from '../src/imports/repo.js';
import { processImport, type ProcessorOptions } from '../src/imports/process.js';
import { FileStagingStore } from '../src/imports/store.js';
import { generateStatement, STATEMENT_QUERY } from './statement-generator.js';

let server: PostgresServer;
let pool: pg.Pool;
let store: FileStagingStore;
let dir: string;
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

beforeAll(async () => {
  server = await startPostgres();
  const url = await server.createDatabase('imports');
  await migrate({ connectionString: url });
  pool = new pg.Pool({ connectionString: url, max: 6 });
  dir = await mkdtemp(path.join(tmpdir(), 'import-staging-'));
  store = new FileStagingStore(dir);
  await store.init();
});
afterAll(async () => {
  await pool?.end();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function user(email: string): Promise<string> {
  const r = await pool.query(`INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id`, [email]);
  return r.rows[0].id;
}

/** Stores `content` as an upload of `userId` and queues it, as the upload route does. */
async function queue(userId: string, content: Buffer | Readable, query: Record<string, unknown> = {}, sizeBytes?: number): Promise<string> {
  const size = sizeBytes ?? (Buffer.isBuffer(content) ? content.length : 0);
  const id = await createImport(pool, { userId, fileName: 'statement.csv', sizeBytes: size, owner: 'test', leaseSeconds: 60 });
  const up = store.create(id);
  let head = Buffer.alloc(0);
  let received = 0;
  const source = Buffer.isBuffer(content) ? Readable.from([content]) : content;
  source.on('data', (c: Buffer) => {
    received += c.length;
    if (head.length < 65536) head = Buffer.concat([head, c]).subarray(0, 65536);
  });
  await pipeline(source, up.stream);
  await up.commit();
  const d = detectFormat(head, received <= 65536, importQuerySchema.parse(query), 'EUR');
  await markQueued(pool, id, 'test', { receivedBytes: received, sha256: '0'.repeat(64), options: d.options });
  return id;
}

const proc = (over: Partial<ProcessorOptions> = {}): ProcessorOptions => ({ pool, store, log, owner: 'worker-1', ...over });

async function run(over: Partial<ProcessorOptions> = {}) {
  const imp = await claimNext(pool, over.owner ?? 'worker-1', 60);
  if (!imp) throw new Error('nothing to claim');
  return processImport(proc(over), imp);
}

async function sums(userId: string) {
  const r = await pool.query(
    `SELECT category, count(*)::int AS count, sum(amount_cents)::float8 AS cents FROM expenses WHERE user_id = $1 GROUP BY category ORDER BY category`,
    [userId],
  );
  return Object.fromEntries(r.rows.map((x) => [x.category, { count: x.count, cents: x.cents }]));
}

const GERMAN = Buffer.from(
  '\ufeffBuchungstag;Empfänger;Verwendungszweck;Betrag;Währung;Kategorie\r\n' +
    '01.03.2024;REWE;Einkauf;-23,45;EUR;groceries\r\n' +
    '01.03.2024;Starbucks;"Kaffee ""to go""";-3,50;EUR;Coffee\r\n' +
    '01.03.2024;Starbucks;"Kaffee ""to go""";-3,50;EUR;Coffee\r\n' + // a second, identical coffee: a real expense
    '02.03.2024;Arbeitgeber;Gehalt;2.500,00;EUR;Income\r\n' + // credit: skipped
    '31.02.2024;Bad;date;-1,00;EUR;X\r\n' + // line 6: bad date
    '\r\n' + // blank line 7
    '03.03.2024;Bad;amount;-1,2,3;EUR;X\r\n' + // line 8: bad amount
    '04.03.2024;"Multi\r\nLine GmbH";Miete;-1.200,00;EUR;Rent\r\n' + // lines 9-10
    '05.03.2024;Short row\r\n' + // line 11: too few columns
    '06.03.2024;Yen;Sushi;-1.500;JPY;Eating out\r\n',
);

describe('import pipeline', () => {
  it('stages, normalizes and merges a bank export; reports bad rows with their line numbers', async () => {
    const u = await user('pipeline@example.com');
    await pool.query(`INSERT INTO expenses (user_id, amount_cents, currency, category, spent_on) VALUES ($1, 100, 'EUR', 'Groceries', '2024-01-01')`, [u]);
    const id = await queue(u, GERMAN);
    expect(await run()).toBe('done');
    const imp = (await getImportById(pool, id))!;
    expect(imp).toMatchObject({ state: 'done', phase: 'finished', rowsRead: 9, rowsStaged: 5, rowsSkipped: 1, rowsFailed: 3, rowsInserted: 5, rowsDuplicate: 0, error: null });
    const errors = await pool.query('SELECT line::int, reason, raw FROM import_errors WHERE import_id = $1 ORDER BY line', [id]);
    expect(errors.rows).toEqual([
      { line: 6, reason: 'Buchungstag: "31.02.2024" is not a DD.MM.YYYY date between 1900 and 2999', raw: '31.02.2024;Bad;date;-1,00;EUR;X' },
      { line: 8, reason: 'Betrag: "-1,2,3" is not a number', raw: '03.03.2024;Bad;amount;-1,2,3;EUR;X' },
      { line: 11, reason: 'expected at least 6 columns, found 2 (check the separator)', raw: '05.03.2024;Short row' },
    ]);
    const rows = await pool.query(
      `SELECT to_char(spent_on, 'YYYY-MM-DD') AS d, amount_cents::int AS c, currency, category, description, import_id
         FROM expenses WHERE user_id = $1 AND import_id IS NOT NULL ORDER BY spent_on, amount_cents`,
      [u],
    );
    expect(rows.rows.map(({ import_id, ...r }) => (expect(import_id).toBe(id), r))).toEqual([
      { d: '2024-03-01', c: 350, currency: 'EUR', category: 'Coffee', description: 'Starbucks · Kaffee "to go"' },
      { d: '2024-03-01', c: 350, currency: 'EUR', category: 'Coffee', description: 'Starbucks · Kaffee "to go"' },
      { d: '2024-03-01', c: 2345, currency: 'EUR', category: 'Groceries', description: 'REWE · Einkauf' }, // joins the existing spelling
      { d: '2024-03-04', c: 120000, currency: 'EUR', category: 'Rent', description: 'Multi Line GmbH · Miete' },
      { d: '2024-03-06', c: 1500, currency: 'JPY', category: 'Eating out', description: 'Yen · Sushi' },
    ]);
    expect(await store.exists(id)).toBe(false);
    expect((await pool.query(`SELECT to_regclass($1) AS t`, [stagingTable(id)])).rows[0].t).toBeNull();
  });

  it('a re-upload adds nothing; an overlapping statement adds only its new rows', async () => {
    const u = await user('overlap@example.com');
    const head = 'date,amount,text\n';
    const jan = '2024-01-30,-3.50,Coffee\n2024-01-30,-3.50,Coffee\n2024-01-31,-10.00,Lunch\n';
    const feb = '2024-02-01,-5.00,Bus\n';
    await queue(u, Buffer.from(head + jan));
    expect(await run()).toBe('done');
    const again = await queue(u, Buffer.from(head + jan));
    expect(await run()).toBe('done');
    expect(await getImportById(pool, again)).toMatchObject({ rowsStaged: 3, rowsInserted: 0, rowsDuplicate: 3 });
    // The next statement repeats the 31st (and both coffees of the 30th, in another order and case).
    const overlap = await queue(u, Buffer.from(head + '2024-01-30,-3.50,COFFEE\n2024-01-31,-10.00,Lunch\n2024-01-30,-3.50,coffee\n' + feb));
    expect(await run()).toBe('done');
    expect(await getImportById(pool, overlap)).toMatchObject({ rowsStaged: 4, rowsInserted: 1, rowsDuplicate: 3 });
    const count = await pool.query('SELECT count(*)::int AS n FROM expenses WHERE user_id = $1', [u]);
    expect(count.rows[0].n).toBe(4);
    // Fingerprints are per user: the same statement is new for another user.
    const other = await user('overlap-other@example.com');
    await queue(other, Buffer.from(head + jan));
    expect(await run()).toBe('done');
    expect((await pool.query('SELECT count(*)::int AS n FROM expenses WHERE user_id = $1', [other])).rows[0].n).toBe(3);
  });

  it('an unclosed quote fails the import at its line and imports nothing', async () => {
    const u = await user('quote@example.com');
    // Past the first 64 KiB, which the upload checks itself.
    const good = Array.from({ length: 3000 }, (_, i) => `2024-01-01,-1.00,row ${i}\n`).join('');
    const id = await queue(u, Buffer.from(`date,amount,text\n${good}2024-01-02,-2.00,"never closed\n2024-01-03,-3.00,x\n`));
    expect(await run({ chunkRows: 1000 })).toBe('failed');
    const imp = (await getImportById(pool, id))!;
    expect(imp.state).toBe('failed');
    expect(imp.error).toBe('line 3002: a quoted field is never closed; nothing was imported: fix the file and upload it again');
    // The rows merged while staging were taken back.
    expect(imp).toMatchObject({ rowsInserted: 0, rowsMerged: 0, stagedBytes: 0 });
    expect((await pool.query('SELECT count(*)::int AS n FROM expenses WHERE user_id = $1', [u])).rows[0].n).toBe(0);
  });

  it('resumes after a stop in staging and after a stop with merges done, with exact counts', async () => {
    const u = await user('resume@example.com');
    const { stream, summary } = generateStatement({ targetBytes: 3 * 1024 * 1024, rowsPerDay: 300, malformedEvery: 1000 });
    const id = await queue(u, stream, STATEMENT_QUERY);
    const expected = await summary;
    // Stop as soon as the first staging chunk is committed...
    const stop = new AbortController();
    expect(await run({ chunkRows: 2_000, signal: stop.signal, onProgress: () => stop.abort() })).toBe('released');
    let imp = (await getImportById(pool, id))!;
    expect(imp).toMatchObject({ state: 'queued', phase: 'staging', rowsRead: 2_000 });
    expect(imp.stagedBytes).toBeGreaterThan(0);
    // ...then once three chunks are merged (merging runs alongside staging).
    const stop2 = new AbortController();
    expect(await run({ chunkRows: 1_000, signal: stop2.signal, onProgress: (p) => p.rowsMerged >= 3_000 && stop2.abort() })).toBe('released');
    imp = (await getImportById(pool, id))!;
    expect(imp.rowsMerged).toBeGreaterThanOrEqual(3_000);
    expect(imp.mergedLine).toBeGreaterThan(0);
    expect(await run({ chunkRows: 1_000 })).toBe('done');
    imp = (await getImportById(pool, id))!;
    expect(imp).toMatchObject({
      state: 'done',
      rowsRead: expected.rows,
      rowsStaged: expected.expenses,
      rowsSkipped: expected.credits,
      rowsFailed: expected.errorLines.length,
      rowsInserted: expected.expenses,
      rowsDuplicate: 0,
      rowsMerged: expected.expenses,
      deferredFromLine: null,
    });
    const lines = await pool.query('SELECT line::int FROM import_errors WHERE import_id = $1 ORDER BY line', [id]);
    expect(lines.rows.map((r) => r.line)).toEqual(expected.errorLines);
    expect(await sums(u)).toEqual(expected.byCategory);
  });

  it('a file not grouped by day is numbered in SQL after staging, with the same fingerprints', async () => {
    const u = await user('unsorted@example.com');
    const head = 'date,amount,text\n';
    // Day 2 comes back after day 1 at line 5: from there on, rows are fingerprinted in SQL.
    const unsorted = '2024-01-02,-3.50,Coffee\n2024-01-02,-9.00,Lunch\n2024-01-01,-1.00,Bus\n2024-01-02,-3.50,Coffee\n2024-01-01,-1.00,Bus\n2024-01-03,-2.00,Bread\n';
    const id = await queue(u, Buffer.from(head + unsorted));
    expect(await run({ mergeBatchRows: 1 })).toBe('done');
    expect(await getImportById(pool, id)).toMatchObject({ deferredFromLine: 5, rowsStaged: 6, rowsInserted: 6, rowsDuplicate: 0 });
    // The same statement sorted by day (fingerprints computed while reading) adds nothing, and
    // the unsorted one again neither.
    const sorted = '2024-01-01,-1.00,Bus\n2024-01-01,-1.00,Bus\n2024-01-02,-3.50,Coffee\n2024-01-02,-9.00,Lunch\n2024-01-02,-3.50,Coffee\n2024-01-03,-2.00,Bread\n';
    const again = await queue(u, Buffer.from(head + sorted));
    expect(await run()).toBe('done');
    expect(await getImportById(pool, again)).toMatchObject({ deferredFromLine: null, rowsInserted: 0, rowsDuplicate: 6 });
    const third = await queue(u, Buffer.from(head + unsorted));
    expect(await run()).toBe('done');
    expect(await getImportById(pool, third)).toMatchObject({ rowsInserted: 0, rowsDuplicate: 6 });
    expect((await pool.query('SELECT count(*)::int AS n FROM expenses WHERE user_id = $1', [u])).rows[0].n).toBe(6);
  });

  it('a staging table emptied by a database crash is rebuilt from the file; counts stay exact', async () => {
    const u = await user('crash@example.com');
    const { stream, summary } = generateStatement({ targetBytes: 1024 * 1024, rowsPerDay: 200, seed: 7 });
    const id = await queue(u, stream, STATEMENT_QUERY);
    const expected = await summary;
    const stop = new AbortController();
    expect(await run({ chunkRows: 500, signal: stop.signal, onProgress: (p) => p.rowsMerged >= 1_000 && stop.abort() })).toBe('released');
    // What crash recovery does to an UNLOGGED table.
    await pool.query(`TRUNCATE ${stagingTable(id)}`);
    expect(await run({ chunkRows: 500 })).toBe('done');
    expect(await getImportById(pool, id)).toMatchObject({ stagingResets: 1, rowsInserted: expected.expenses, rowsDuplicate: 0, rowsStaged: expected.expenses });
    expect(await sums(u)).toEqual(expected.byCategory);
  });

  it('a worker that lost its lease writes nothing more', async () => {
    const u = await user('fence@example.com');
    const { stream } = generateStatement({ targetBytes: 512 * 1024, rowsPerDay: 100, seed: 3 });
    const id = await queue(u, stream, STATEMENT_QUERY);
    const imp = (await claimNext(pool, 'slow-worker', 60))!;
    // The lease expires and another worker takes the import over.
    await pool.query(`UPDATE imports SET lease_owner = 'other-worker' WHERE id = $1`, [id]);
    expect(await processImport(proc({ owner: 'slow-worker', chunkRows: 500 }), imp)).toBe('lost');
    expect(await getImportById(pool, id)).toMatchObject({ state: 'processing', leaseOwner: 'other-worker', rowsStaged: 0 });
    expect((await pool.query('SELECT count(*)::int AS n FROM expenses WHERE user_id = $1', [u])).rows[0].n).toBe(0);
    await pool.query(`UPDATE imports SET state = 'failed' WHERE id = $1`, [id]);
  });
});
