/**
 * The import API and page on the real stack (PostgreSQL, Redis, the app): content-type, size,
 * quota and format checks with their 4xx answers, small uploads processed at once, large ones
 * queued for the worker, per-row errors as a CSV download, re-imports, user isolation, retry,
 * the preview, and the Import page.
 */
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportWorker } from '../src/imports/worker.js';
import { runImportsCli } from '../src/imports/cli.js';
import { FileStagingStore } from '../src/imports/store.js';
import { Client, startStack, type Stack } from './harness.js';
import { generateStatement, STATEMENT_QUERY } from './statement-generator.js';

let stack: Stack;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'import-api-'));
  stack = await startStack({ env: { IMPORT_STAGING_DIR: dir, IMPORT_INLINE_MAX_BYTES: '64Ki', IMPORT_MAX_BYTES: '8Mi' } });
});
afterAll(async () => {
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface UploadResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: any;
}

/** POSTs `body` with a Content-Length (unless `chunked`) and the client's cookies. */
function upload(
  client: Client,
  body: string | Buffer | Readable,
  opts: { path?: string; query?: Record<string, string | readonly string[]>; contentType?: string | null; chunked?: boolean; length?: number } = {},
): Promise<UploadResult> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(opts.query ?? {})) for (const x of typeof v === 'string' ? [v] : v) q.append(k, x);
  const url = new URL(`${opts.path ?? '/api/imports'}${q.size ? `?${q}` : ''}`, client.baseUrl);
  const headers: Record<string, string> = {};
  if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'text/csv';
  if (client.cookies.size) headers.cookie = [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  if (opts.chunked) headers['transfer-encoding'] = 'chunked';
  else headers['content-length'] = String(opts.length ?? (Buffer.isBuffer(buf) ? buf.length : 0));
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = text;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
      });
    });
    req.on('error', reject);
    if (Buffer.isBuffer(buf)) req.end(buf);
    else (buf as Readable).pipe(req);
  });
}

const STATEMENT =
  '\ufeffBuchungstag;Empfänger;Verwendungszweck;Betrag;Währung;Kategorie\r\n' +
  '01.03.2024;REWE;Einkauf;-23,45;EUR;Groceries\r\n' +
  '02.03.2024;Arbeitgeber;Gehalt;2.500,00;EUR;Income\r\n' +
  '31.02.2024;Bad;date;-1,00;EUR;X\r\n' +
  '03.03.2024;Kino;"Film ""Dune""";-12,00;EUR;Leisure\r\n';

let n = 0;
async function signedUp(): Promise<Client> {
  const c = new Client(stack.baseUrl);
  await c.signUp(`importer${++n}@example.com`);
  return c;
}

describe('POST /api/imports: checks', () => {
  it('401 without a session, before the body is read', async () => {
    const r = await upload(new Client(stack.baseUrl), STATEMENT);
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: 'unauthorized' });
  });

  it('415 for other content types and charsets; 411 without Content-Length; 413 above the limit; 400 empty or bad options', async () => {
    const c = await signedUp();
    for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x', null]) {
      const r = await upload(c, STATEMENT, { contentType: type });
      expect(r.status, String(type)).toBe(415);
      expect(r.json.message).toMatch(/Content-Type: text\/csv/);
    }
    expect((await upload(c, STATEMENT, { contentType: 'text/csv; charset=iso-8859-1' })).json).toMatchObject({
      error: 'unsupported_media_type',
      message: 'the file must be UTF-8 (got charset=iso-8859-1): export it as UTF-8',
    });
    expect((await upload(c, STATEMENT, { contentType: 'application/vnd.ms-excel' })).status).toBe(201);
    const chunked = await upload(c, Readable.from([Buffer.from(STATEMENT)]), { chunked: true });
    expect(chunked.status).toBe(411);
    expect(chunked.json.error).toBe('length_required');
    // The declared size is refused before a byte is read (the body never arrives here).
    const big = await upload(c, Readable.from([]), { length: 9 * 1024 * 1024 });
    expect(big.status).toBe(413);
    expect(big.json).toEqual({ error: 'payload_too_large', message: 'the file is 9 MiB; the largest accepted is 8 MiB' });
    expect(big.headers.connection).toBe('close');
    expect((await upload(c, '')).json).toEqual({ error: 'validation_failed', message: 'file: is empty', field: 'file' });
    const bad = await upload(c, STATEMENT, { query: { dateFormat: 'DD.MM' } });
    expect(bad.status).toBe(400);
    expect(bad.json.field).toBe('dateFormat');
  });

  it('422 for files that cannot be read, naming what to set; nothing is stored', async () => {
    const c = await signedUp();
    const binary = await upload(c, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]));
    expect(binary).toMatchObject({ status: 422, json: { error: 'unprocessable_file', field: 'file', message: expect.stringMatching(/binary/) } });
    const latin1 = await upload(c, Buffer.from('Datum;Betrag;Text\n01.02.2024;-1,00;M\xfcller\n', 'latin1'));
    expect(latin1.json).toMatchObject({ field: 'file', message: expect.stringMatching(/not UTF-8/) });
    const noAmount = await upload(c, 'date,text\n2024-01-01,a\n2024-01-02,b\n');
    expect(noAmount).toMatchObject({ status: 422, json: { error: 'unprocessable_file', field: 'amount' } });
    const quote = await upload(c, 'date,amount,text\n2024-01-01,-1.00,"open quote\n2024-01-02,-2.00,x\n');
    expect(quote.json).toMatchObject({ field: 'file', message: expect.stringMatching(/never closed/) });
    const unknown = await upload(c, STATEMENT, { query: { amount: 'Amount' } });
    expect(unknown.status).toBe(422);
    expect(unknown.json.message).toMatch(/^amount: no column "Amount" in the file \(columns: "Buchungstag", /);
    const list = await c.get('/api/imports');
    expect(list.json.imports).toEqual([]);
    expect(await new FileStagingStore(dir).list()).toEqual([]);
  });

  it('429 past the per-user quota, with Retry-After; 507 when the staging area is full', async () => {
    const c = await signedUp();
    const cfg = stack.config.imports;
    const saved = { ...cfg };
    try {
      cfg.userDailyBytes = STATEMENT.length * 2 + 10;
      expect((await upload(c, STATEMENT)).status).toBe(201);
      expect((await upload(c, STATEMENT)).status).toBe(201);
      const over = await upload(c, STATEMENT);
      expect(over.status).toBe(429);
      expect(over.json.message).toMatch(/^uploads are limited to .* per 24 hours/);
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(80_000);
      cfg.userDailyBytes = saved.userDailyBytes;
      // Queued large imports (no worker here) count as unfinished.
      cfg.userMaxActive = 1;
      cfg.inlineMaxBytes = 0;
      expect((await upload(c, STATEMENT)).status).toBe(202);
      const busy = await upload(c, STATEMENT);
      expect(busy).toMatchObject({ status: 429, json: { error: 'quota_exceeded', message: 'you have 1 imports in progress (at most 1); wait until one has finished' } });
      cfg.userMaxActive = saved.userMaxActive;
      cfg.stagingReserveBytes = Number.MAX_SAFE_INTEGER;
      const full = await upload(c, STATEMENT);
      expect(full).toMatchObject({ status: 507, json: { error: 'insufficient_storage' } });
    } finally {
      Object.assign(cfg, saved);
    }
  });
});

describe('imports end to end', () => {
  it('a small file is imported at once: 201, counts, errors as CSV, the summary updated', async () => {
    const c = await signedUp();
    const r = await upload(c, STATEMENT, { query: { name: 'märz.csv' } });
    expect(r.status).toBe(201);
    expect(r.headers.location).toBe(`/api/imports/${r.json.id}`);
    expect(r.json).toMatchObject({
      state: 'done',
      progress: 1,
      fileName: 'märz.csv',
      sizeBytes: Buffer.byteLength(STATEMENT),
      rows: { read: 4, staged: 2, skipped: 1, failed: 1, inserted: 2, duplicate: 0 },
      options: { format: { delimiter: ';', decimal: ',', dateFormat: 'DD.MM.YYYY', header: true } },
    });
    expect(r.json.sha256).toMatch(/^[0-9a-f]{64}$/);
    const errors = await c.get(`/api/imports/${r.json.id}/errors`);
    expect(errors.status).toBe(200);
    expect(errors.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(errors.headers.get('content-disposition')).toBe(`attachment; filename="import-${r.json.id}-errors.csv"`);
    expect(errors.text).toBe('line,reason,raw\n4,"Buchungstag: ""31.02.2024"" is not a DD.MM.YYYY date between 1900 and 2999","31.02.2024;Bad;date;-1,00;EUR;X"\n');
    const summary = await c.get('/api/summary?month=2024-03');
    expect(summary.json).toMatchObject({ currency: 'USD', totals: [{ currency: 'EUR', totalCents: 3545, count: 2 }] });
    expect((await c.get(`/api/imports/${r.json.id}`)).json).toEqual(r.json);
    // The same file again adds nothing.
    const again = await upload(c, STATEMENT);
    expect(again.json.rows).toMatchObject({ staged: 2, inserted: 0, duplicate: 2 });
    expect((await c.get('/api/imports')).json.imports.map((i: { id: string }) => i.id)).toEqual([again.json.id, r.json.id]);
  });

  it('another user sees none of it', async () => {
    const a = await signedUp();
    const r = await upload(a, STATEMENT);
    const b = await signedUp();
    expect((await b.get(`/api/imports/${r.json.id}`)).status).toBe(404);
    expect((await b.get(`/api/imports/${r.json.id}/errors`)).status).toBe(404);
    expect((await b.request('POST', `/api/imports/${r.json.id}/retry`)).status).toBe(404);
    expect((await b.get('/api/imports/not-a-uuid')).status).toBe(404);
    expect((await b.get('/api/imports')).json.imports).toEqual([]);
  });

  it('a large file is queued (202), stored whole in the staging area, and imported by a worker', async () => {
    const c = await signedUp();
    const { stream, summary } = generateStatement({ targetBytes: 1024 * 1024, rowsPerDay: 100, malformedEvery: 500 });
    const parts: Buffer[] = [];
    for await (const chunk of stream) parts.push(chunk as Buffer);
    const file = Buffer.concat(parts);
    const expected = await summary;
    const r = await upload(c, file, { query: STATEMENT_QUERY });
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ state: 'queued', receivedBytes: file.length, progress: 0 });
    const store = new FileStagingStore(dir);
    expect(await store.list()).toContainEqual(expect.objectContaining({ id: r.json.id, sizeBytes: file.length, partial: false }));
    const worker = new ImportWorker({ pool: stack.pool, store, log: pino({ level: 'silent' }), listen: stack.config.postgres });
    // Earlier tests left imports queued: work through the queue.
    while ((await worker.runOnce()) !== false);
    const done = (await c.get(`/api/imports/${r.json.id}`)).json;
    expect(done).toMatchObject({
      state: 'done',
      progress: 1,
      rows: { read: expected.rows, staged: expected.expenses, skipped: expected.credits, failed: expected.errorLines.length, inserted: expected.expenses, duplicate: 0 },
    });
    const errors = await c.get(`/api/imports/${r.json.id}/errors`);
    const lines = errors.text.trim().split('\n').slice(1).map((l) => Number(l.split(',')[0]));
    expect(lines).toEqual(expected.errorLines);
    expect(await store.exists(r.json.id)).toBe(false);
  });

  it('retry: a failed import goes back to the queue while its file is staged; otherwise 409', async () => {
    const c = await signedUp();
    // The open quote comes after the first 64 KiB: the upload is accepted, the import fails.
    const good = Array.from({ length: 3000 }, (_, i) => `2024-01-01,-1.00,row ${i}\n`).join('');
    const r = await upload(c, `date,amount,text\n${good}2024-01-02,-2.00,"open quote\n2024-01-03,-3.00,x\n`);
    expect(r.status).toBe(202);
    const worker = new ImportWorker({ pool: stack.pool, store: new FileStagingStore(dir), log: pino({ level: 'silent' }), listen: stack.config.postgres });
    expect(await worker.runOnce()).toBe('failed');
    expect((await c.get(`/api/imports/${r.json.id}`)).json).toMatchObject({
      state: 'failed',
      error: 'line 3002: a quoted field is never closed; nothing was imported: fix the file and upload it again',
      rows: { inserted: 0 },
    });
    const retried = await c.request('POST', `/api/imports/${r.json.id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.json).toMatchObject({ state: 'queued', error: null });
    expect((await c.request('POST', `/api/imports/${r.json.id}/retry`)).json).toMatchObject({ error: 'conflict', message: 'the import is queued, not failed' });
    expect(await worker.runOnce()).toBe('failed');
    const ok = await upload(c, STATEMENT);
    const notFailed = await c.request('POST', `/api/imports/${ok.json.id}/retry`);
    expect(notFailed).toMatchObject({ status: 409, json: { message: 'the import is done, not failed' } });
  });
});

describe('operator CLI', () => {
  const cli = async (...argv: string[]) => {
    let out = '';
    let err = '';
    const sink = (f: (s: string) => void) => ({ write: (s: string) => f(s) });
    const code = await runImportsCli(argv, stack.env, sink((s) => (out += s)), sink((s) => (err += s)));
    return { code, out, err };
  };

  it('lists, shows, fails (taking back merged rows) and retries imports; lists staged files', async () => {
    const c = await signedUp();
    const cfg = stack.config.imports;
    cfg.inlineMaxBytes = 0;
    let queued;
    try {
      queued = await upload(c, STATEMENT);
    } finally {
      cfg.inlineMaxBytes = 64 * 1024;
    }
    expect(queued.status).toBe(202);
    const id = queued.json.id;
    expect((await cli('list')).out).toContain(`${id}  queued`);
    expect((await cli('show', id)).out).toMatch(new RegExp(`file: staged \\(.*${id}\\.csv\\)`));
    expect((await cli('files')).out).toContain(`${id}  ${Buffer.byteLength(STATEMENT)} bytes`);
    expect(await cli('retry', id)).toMatchObject({ code: 1, err: `import ${id} is queued, not failed\n` });
    expect(await cli('fail', id, 'bad', 'statement')).toMatchObject({ code: 0, out: `import ${id} failed (bad statement); 0 expenses it had added were removed\n` });
    expect((await c.get(`/api/imports/${id}`)).json).toMatchObject({ state: 'failed', error: 'bad statement' });
    expect(await cli('retry', id)).toMatchObject({ code: 0, out: `import ${id} is queued again\n` });
    const worker = new ImportWorker({ pool: stack.pool, store: new FileStagingStore(dir), log: pino({ level: 'silent' }), listen: stack.config.postgres });
    while ((await worker.runOnce()) !== false);
    expect((await c.get(`/api/imports/${id}`)).json).toMatchObject({ state: 'done', rows: { inserted: 2 } });
    expect(await cli('fail', id)).toMatchObject({ code: 1, err: `import ${id} is already done\n` });
    expect((await cli('show', 'nope')).code).toBe(2);
    expect((await cli('list', 'sleeping')).err).toMatch(/^list: states are/);
  });
});

describe('preview and page', () => {
  it('previews detection and the first rows as they will be imported', async () => {
    const c = await signedUp();
    const r = await upload(c, STATEMENT, { path: '/api/imports/preview', query: { size: String(Buffer.byteLength(STATEMENT)) } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      ok: true,
      columns: ['Buchungstag', 'Empfänger', 'Verwendungszweck', 'Betrag', 'Währung', 'Kategorie'],
      options: { mapping: { date: 0, amount: 3, currency: 4, category: 5, description: [1, 2] } },
      query: { delimiter: ';', decimal: ',', dateFormat: 'DD.MM.YYYY', date: '1', amount: '4', description: ['2', '3'] },
    });
    expect(r.json.rows.map((x: { result: { kind: string } }) => x.result.kind)).toEqual(['row', 'skip', 'error', 'row']);
    expect(r.json.rows[0].result).toMatchObject({ spentOn: '2024-03-01', amountCents: 2345, description: 'REWE · Einkauf' });
    // A mapping that cannot be detected still shows the records, with the field to set.
    const undetected = await upload(c, 'a,b\nx,y\n', { path: '/api/imports/preview' });
    expect(undetected.json).toMatchObject({ ok: false, error: { field: 'date' }, columns: ['a', 'b'] });
    expect((await upload(c, Buffer.from([0, 1, 2]), { path: '/api/imports/preview' })).status).toBe(422);
    expect((await c.get('/api/imports')).json.imports).toEqual([]);
  });

  it('the Import page: form, recent imports, script; login required', async () => {
    const anon = await new Client(stack.baseUrl).get('/imports');
    expect(anon.status).toBe(303);
    const c = await signedUp();
    await upload(c, STATEMENT, { query: { name: '<b>statement</b>.csv' } });
    const page = await c.get('/imports');
    expect(page.status).toBe(200);
    expect(page.text).toContain('data-testid="import-file"');
    expect(page.text).toContain('&lt;b&gt;statement&lt;/b&gt;.csv');
    expect(page.text).toContain('<script src="/static/import.js" defer></script>');
    expect(page.text).toContain('<a href="/imports">Import</a>');
    const script = await c.get('/static/import.js');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.text).toContain("/api/imports/preview?");
  });
});
