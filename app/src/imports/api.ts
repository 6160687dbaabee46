/**
 * The import API, registered under `/api/imports`:
 *
 * | route | success | errors |
 * |---|---|---|
 * | `POST /api/imports?<options>` body: the CSV file | 202 queued (201 when processed at once) + `Location` | 400 411 413 415 422 429 503 507 |
 * | `POST /api/imports/preview?<options>&size=<file bytes>` body: the file's first 64 KiB | 200 detection + first rows | 400 413 415 422 |
 * | `GET /api/imports` | 200 `{imports:[…]}` (latest 20) | |
 * | `GET /api/imports/:id` | 200 state and progress | 404 |
 * | `GET /api/imports/:id/errors` | 200 `text/csv` (line, reason, raw) | 404 |
 * | `POST /api/imports/:id/retry` | 202 | 404, 409 not failed / file gone |
 *
 * The upload is streamed: request body -> format check of its first 64 KiB -> SHA-256 -> the
 * staging store, with backpressure, so neither memory nor the pod's own disk ever holds the file.
 * It must be `Content-Type: text/csv` (or `application/csv`, `text/x-csv`,
 * `application/vnd.ms-excel`, which browsers send for .csv files), UTF-8, with a `Content-Length`.
 * A cross-site HTML form cannot send these types (only a CORS preflight could, which is not
 * granted), which is what protects these routes from CSRF, as JSON does for the rest of the API;
 * `text/plain` is refused for that reason.
 *
 * Errors answer JSON `{error, message[, field]}`: 401 no session; 400 a bad query parameter
 * (`field` names it) or an empty file; 411 no Content-Length; 413 larger than IMPORT_MAX_BYTES;
 * 415 another content type or charset; 422 the file cannot be read (binary, not UTF-8, no date or
 * amount column, ambiguous date format: `field` names the parameter to set); 429 the user's quota
 * (unfinished imports, bytes per 24 h; with `Retry-After`); 503 imports not configured;
 * 507 the staging area is full.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { IncomingMessage } from 'node:http';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import { to as copyTo } from 'pg-copy-streams';
import { getSettings, isUuid } from '../repo.js';
import { firstIssue } from '../validation.js';
import { hasUser } from '../plugins/session.js';
import type { ImportConfig } from './config.js';
import { detectFormat, SAMPLE_BYTES } from './detect.js';
import { RowNormalizer } from './normalize.js';
import { importQuerySchema, OptionError, type ImportOptions, type ImportQuery } from './options.js';
import { processImport } from './process.js';
import {
  claimQueued,
  createImport,
  deleteImport,
  failImport,
  getImport,
  listImports,
  markQueued,
  quotaUsage,
  retryImport,
  touchReceiving,
  type ImportRecord,
} from './repo.js';
import { parse as parseCsv } from 'csv-parse/sync';
import type { FileStagingStore } from './store.js';

/** Content types accepted for a CSV body (browsers label .csv files differently per platform). */
export const CSV_CONTENT_TYPES = ['text/csv', 'application/csv', 'text/x-csv', 'text/comma-separated-values', 'application/vnd.ms-excel'];

export interface ImportsApiOptions {
  pool: pg.Pool;
  config: ImportConfig;
  /** The staging store; null when imports are not configured or the store is unusable (503). */
  store: FileStagingStore | null;
  /** Why the store is null, for the 503 message. */
  unavailableReason?: string;
  /** This process's lease owner name. */
  owner: string;
  log: Logger;
  /** After an import processed in this process is done (cache, budget alerts). */
  onImported?(userId: string, months: string[]): Promise<void>;
}

/** A client error with its status, code and (for bad input) the field or parameter to fix. */
export class ImportHttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** Human-readable byte count (`1.5 GiB`), for messages. */
export function formatBytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(n % GiB === 0 ? 0 : 1)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(n % MiB === 0 ? 0 : 1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${n} bytes`;
}

/** The JSON shape of an import. */
export function importJson(i: ImportRecord) {
  let progress = 0;
  if (i.state === 'done') progress = 1;
  else if (i.phase === 'merging') progress = 0.4 + 0.6 * (i.rowsStaged === 0 ? 1 : i.rowsMerged / i.rowsStaged);
  else if (i.state !== 'receiving' && i.sizeBytes > 0) progress = (0.4 * i.stagedBytes) / i.sizeBytes;
  return {
    id: i.id,
    state: i.state,
    phase: i.phase,
    fileName: i.fileName,
    sizeBytes: i.sizeBytes,
    receivedBytes: i.receivedBytes,
    sha256: i.sha256,
    /** 0..1 over staging (0-0.4, by bytes) and merging (0.4-1, by rows). */
    progress: Math.round(progress * 1000) / 1000,
    rows: {
      read: i.rowsRead,
      staged: i.rowsStaged,
      skipped: i.rowsSkipped,
      failed: i.rowsFailed,
      merged: i.rowsMerged,
      inserted: i.rowsInserted,
      duplicate: i.rowsDuplicate,
    },
    error: i.error,
    options: i.options,
    createdAt: i.createdAt.toISOString(),
    startedAt: i.startedAt?.toISOString() ?? null,
    finishedAt: i.finishedAt?.toISOString() ?? null,
    links: { self: `/api/imports/${i.id}`, errors: `/api/imports/${i.id}/errors` },
  };
}

function parseQuery(query: unknown): ImportQuery {
  const r = importQuerySchema.safeParse(query ?? {});
  if (!r.success) {
    const { field, message } = firstIssue(r.error);
    throw new ImportHttpError(400, 'validation_failed', `${field}: ${message}`, field);
  }
  return r.data;
}

/** Checks the content type: a CSV type, UTF-8 (or no charset). */
function checkContentType(req: FastifyRequest): void {
  const header = (req.headers['content-type'] ?? '').toLowerCase();
  const [type, ...params] = header.split(';').map((s) => s.trim());
  if (!type || !CSV_CONTENT_TYPES.includes(type)) {
    throw new ImportHttpError(415, 'unsupported_media_type', `send the file as Content-Type: text/csv (got ${type || 'none'})`);
  }
  const charset = params.find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    throw new ImportHttpError(415, 'unsupported_media_type', `the file must be UTF-8 (got charset=${charset}): export it as UTF-8`);
  }
}

function optionError(err: OptionError): ImportHttpError {
  return new ImportHttpError(422, 'unprocessable_file', err.message, err.field);
}

/** Sends `err` and closes the connection, so an unread request body is not read to its end. */
function refuse(reply: FastifyReply, err: ImportHttpError): FastifyReply {
  return reply
    .code(err.statusCode)
    .headers({ ...err.headers, connection: 'close' })
    .send({ error: err.code, message: err.message, ...(err.field === undefined ? {} : { field: err.field }) });
}

/** Upload stopped by the client (connection closed before Content-Length bytes arrived). */
class ClientAborted extends Error {}

/**
 * Passes bytes through after checking the file's first {@link SAMPLE_BYTES}: the format is
 * detected (with the client's options applied) before anything past them is stored, and a file
 * that cannot be read is refused at once.
 */
class FormatGate extends Transform {
  private head: Buffer[] = [];
  private headBytes = 0;
  detection: ReturnType<typeof detectFormat> | undefined;
  constructor(private readonly check: (head: Buffer, complete: boolean) => ReturnType<typeof detectFormat>) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.detection) return cb(null, chunk);
    this.head.push(chunk);
    this.headBytes += chunk.length;
    if (this.headBytes < SAMPLE_BYTES) return cb();
    this.release(false, cb);
  }
  override _flush(cb: TransformCallback): void {
    if (this.detection) return cb();
    this.release(true, cb);
  }
  private release(complete: boolean, cb: TransformCallback): void {
    const all = Buffer.concat(this.head);
    this.head = [];
    try {
      this.detection = this.check(all, complete);
    } catch (err) {
      return cb(err as Error);
    }
    cb(null, all);
  }
}

const importsApi: FastifyPluginAsync<ImportsApiOptions> = async (app, opts) => {
  const { pool, config, log } = opts;

  // Bodies are read by the handlers themselves, as streams.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  app.addHook('onRequest', async (req, reply) => {
    if (req.is404) return;
    if (!hasUser(req)) return refuse(reply, new ImportHttpError(401, 'unauthorized', 'log in first (session cookie missing or expired)'));
  });

  app.setErrorHandler(async (err: Error & { statusCode?: number; code?: string; field?: string }, req, reply) => {
    if (err instanceof ImportHttpError) return refuse(reply, err);
    if (err instanceof OptionError) return refuse(reply, optionError(err));
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'import request failed');
    return reply.code(status).send({ error: status === 500 ? 'error' : 'bad_request', message: status === 500 ? 'Internal error' : err.message });
  });
  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send({ error: 'not_found', message: 'no such resource' }));

  const store = (): FileStagingStore => {
    if (!opts.store) throw new ImportHttpError(503, 'imports_unavailable', opts.unavailableReason ?? 'imports are not configured on this server');
    return opts.store;
  };
  const notFound = new ImportHttpError(404, 'not_found', 'no such import');

  app.post('/', async (req, reply) => {
    const user = req.user!;
    try {
      checkContentType(req);
      if (req.headers['content-length'] === undefined) {
        throw new ImportHttpError(411, 'length_required', 'send the file with a Content-Length header (a chunked upload cannot be checked against the size limit)');
      }
      const size = Number(req.headers['content-length']);
      if (size > config.maxBytes) {
        throw new ImportHttpError(413, 'payload_too_large', `the file is ${formatBytes(size)}; the largest accepted is ${formatBytes(config.maxBytes)}`);
      }
      if (size === 0) throw new ImportHttpError(400, 'validation_failed', 'file: is empty', 'file');
      const query = parseQuery(req.query);
      const staging = store();
      const usage = await quotaUsage(pool, user.id);
      if (usage.active >= config.userMaxActive) {
        throw new ImportHttpError(429, 'quota_exceeded', `you have ${usage.active} imports in progress (at most ${config.userMaxActive}); wait until one has finished`, undefined, {
          'retry-after': '60',
        });
      }
      if (usage.bytesToday + size > config.userDailyBytes) {
        const wait = usage.oldestTodayAt ? Math.max(60, Math.ceil((usage.oldestTodayAt.getTime() + 86_400_000 - Date.now()) / 1000)) : 3600;
        throw new ImportHttpError(
          429,
          'quota_exceeded',
          `uploads are limited to ${formatBytes(config.userDailyBytes)} per 24 hours; ${formatBytes(usage.bytesToday)} used`,
          undefined,
          { 'retry-after': String(wait) },
        );
      }
      const free = await staging.freeBytes();
      if (free - config.stagingReserveBytes < size) {
        log.error({ free, size }, 'import staging area is full');
        throw new ImportHttpError(507, 'insufficient_storage', 'the import staging area is full; try again later', undefined, { 'retry-after': '300' });
      }
      const currency = (await getSettings(pool, user.id)).currency;
      return await receive(req, reply, staging, query, size, currency);
    } catch (err) {
      if (err instanceof ImportHttpError) return refuse(reply, err);
      throw err;
    }
  });

  async function receive(req: FastifyRequest, reply: FastifyReply, staging: FileStagingStore, query: ImportQuery, size: number, currency: string) {
    const user = req.user!;
    const leaseSeconds = config.leaseSeconds;
    const id = await createImport(pool, { userId: user.id, fileName: query.name ?? 'upload.csv', sizeBytes: size, owner: opts.owner, leaseSeconds });
    const upload = staging.create(id);
    const source = req.body as IncomingMessage;
    const gate = new FormatGate((head, complete) => detectFormat(head, complete, query, currency));
    const sha = createHash('sha256');
    let received = 0;
    let lastTouch = Date.now();
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        sha.update(chunk);
        if (Date.now() - lastTouch > 5_000) {
          lastTouch = Date.now();
          void touchReceiving(pool, id, opts.owner, received, leaseSeconds).catch(() => undefined);
        }
        cb(null, chunk);
      },
    });
    const stored = pipeline(gate, meter, upload.stream);
    source.on('close', () => {
      if (!source.complete) gate.destroy(new ClientAborted('the client closed the connection during the upload'));
    });
    source.pipe(gate);
    try {
      await stored;
      if (received !== size) throw new ClientAborted(`received ${received} of ${size} bytes`);
      await upload.commit();
    } catch (err) {
      source.unpipe(gate);
      source.resume(); // discard the rest; the answer closes the connection
      await upload.abort();
      if (err instanceof OptionError) {
        await deleteImport(pool, id);
        return refuse(reply, optionError(err));
      }
      await failImport(pool, id, err instanceof ClientAborted ? 'the upload was interrupted; upload the file again' : `the upload failed: ${(err as Error).message}`);
      if (err instanceof ClientAborted) {
        req.log.info({ importId: id, received, size }, 'import upload aborted by the client');
        return reply;
      }
      throw err;
    }
    const options = gate.detection!.options;
    const queued = await markQueued(pool, id, opts.owner, { receivedBytes: received, sha256: sha.digest('hex'), options });
    if (!queued) throw new Error('the import was taken over while it was being received');
    req.log.info({ importId: id, bytes: received }, 'import upload stored');

    if (size <= config.inlineMaxBytes) {
      // Small files: processed here and now, so the answer is the result.
      const claimed = await claimQueued(pool, id, opts.owner, leaseSeconds);
      if (claimed) await processImport({ pool, store: staging, log, owner: opts.owner, leaseSeconds, onImported: opts.onImported }, claimed);
      const done = (await getImport(pool, user.id, id))!;
      return reply
        .code(done.state === 'done' || done.state === 'failed' ? 201 : 202)
        .header('location', `/api/imports/${id}`)
        .send(importJson(done));
    }
    const imp = (await getImport(pool, user.id, id))!;
    return reply.code(202).header('location', `/api/imports/${id}`).send(importJson(imp));
  }

  app.post('/preview', async (req, reply) => {
    try {
      checkContentType(req);
      const query = parseQuery(req.query);
      const total = Number((req.query as Record<string, unknown>).size ?? NaN);
      const head = await readHead(req.body as IncomingMessage, SAMPLE_BYTES);
      if (head.length === 0) throw new ImportHttpError(400, 'validation_failed', 'file: is empty', 'file');
      const complete = Number.isFinite(total) ? total <= head.length : head.length < SAMPLE_BYTES;
      const currency = (await getSettings(pool, req.user!.id)).currency;
      return preview(head, complete, query, currency);
    } catch (err) {
      if (err instanceof ImportHttpError) return refuse(reply, err);
      throw err;
    }
  });

  app.get('/', async (req) => ({ imports: (await listImports(pool, req.user!.id)).map(importJson) }));

  app.get<{ Params: { id: string } }>('/:id', async (req) => {
    const imp = isUuid(req.params.id) ? await getImport(pool, req.user!.id, req.params.id) : null;
    if (!imp) throw notFound;
    return importJson(imp);
  });

  app.get<{ Params: { id: string } }>('/:id/errors', async (req, reply) => {
    const imp = isUuid(req.params.id) ? await getImport(pool, req.user!.id, req.params.id) : null;
    if (!imp) throw notFound;
    const client = await pool.connect();
    // Streamed from the database: a file with millions of bad rows keeps at most 10 000 of them here.
    const stream = client.query(
      copyTo(`COPY (SELECT line, reason, raw FROM import_errors WHERE import_id = '${imp.id}' ORDER BY line) TO STDOUT WITH (FORMAT csv, HEADER)`),
    );
    const release = () => client.release();
    stream.once('end', release);
    stream.once('error', (err) => client.release(err));
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="import-${imp.id}-errors.csv"`)
      .header('cache-control', 'no-store')
      .send(stream);
  });

  app.post<{ Params: { id: string } }>('/:id/retry', async (req, reply) => {
    const imp = isUuid(req.params.id) ? await getImport(pool, req.user!.id, req.params.id) : null;
    if (!imp) throw notFound;
    if (imp.state !== 'failed') throw new ImportHttpError(409, 'conflict', `the import is ${imp.state}, not failed`);
    if (!imp.options || !(await store().exists(imp.id))) {
      throw new ImportHttpError(409, 'conflict', 'the uploaded file is no longer staged; upload it again (rows already imported are not duplicated)');
    }
    await retryImport(pool, imp.id);
    return reply.code(202).header('location', `/api/imports/${imp.id}`).send(importJson((await getImport(pool, req.user!.id, imp.id))!));
  });
};

/** Reads at most `max` bytes of a request body (the rest is discarded). */
async function readHead(source: IncomingMessage, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    if (n < max) {
      parts.push(chunk);
      n += chunk.length;
    }
  }
  return Buffer.concat(parts).subarray(0, max);
}

/** Rows of the preview table. */
const PREVIEW_ROWS = 20;

/**
 * The preview: the options detection chose (or why it could not), the columns, and the first rows
 * as they would be imported. An unreadable file (binary, not UTF-8, empty) is a 422.
 */
function preview(head: Buffer, complete: boolean, query: ImportQuery, currency: string) {
  let detection;
  let problem: { field: string; message: string } | undefined;
  try {
    detection = detectFormat(head, complete, query, currency);
  } catch (err) {
    if (!(err instanceof OptionError)) throw err;
    if (err.field === 'file') throw optionError(err);
    problem = { field: err.field, message: err.message };
  }
  if (!detection) {
    // Still show the records, so the user can pick the columns by hand.
    const records = sampleRecords(head, query.delimiter);
    return { ok: false, error: problem, options: null, columns: records[0] ?? [], warnings: [], rows: records.slice(0, PREVIEW_ROWS + 1).map((fields) => ({ fields })) };
  }
  const { options, sample, warnings } = detection;
  const normalizer = new RowNormalizer(options);
  const data = options.format.header ? sample.records.slice(1) : sample.records;
  return {
    ok: true,
    options,
    columns: options.columns,
    warnings,
    query: toQuery(options),
    rows: data.slice(0, PREVIEW_ROWS).map((fields) => {
      const r = normalizer.normalize(fields);
      return { fields, result: r.kind === 'row' ? { kind: 'row', ...r.row } : r };
    }),
  };
}

function sampleRecords(head: Buffer, delimiter?: string): string[][] {
  try {
    return parseCsv(head.subarray(0, SAMPLE_BYTES), {
      delimiter: delimiter ?? [',', ';', '\t', '|'],
      bom: true,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      to: PREVIEW_ROWS + 1,
    }) as string[][];
  } catch {
    return [];
  }
}

/** The query parameters that reproduce `options` exactly (what the page sends with the upload). */
export function toQuery(o: ImportOptions): Record<string, string | string[]> {
  const col = (i: number | null) => (i === null ? undefined : String(i + 1));
  const q: Record<string, string | string[] | undefined> = {
    delimiter: o.format.delimiter === '\t' ? 'tab' : o.format.delimiter,
    decimal: o.format.decimal,
    dateFormat: o.format.dateFormat,
    header: String(o.format.header),
    date: col(o.mapping.date),
    amount: col(o.mapping.amount),
    debit: col(o.mapping.debit),
    currency: col(o.mapping.currency),
    category: col(o.mapping.category),
    description: o.mapping.description.map((i) => String(i + 1)),
    defaultCurrency: o.defaultCurrency,
    defaultCategory: o.defaultCategory,
    expenses: o.expenses,
  };
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)) as Record<string, string | string[]>;
}

export default importsApi;
