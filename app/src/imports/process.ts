/**
 * Processing one import: the staged file -> a staging table (PostgreSQL COPY) -> `expenses`.
 *
 * Staging: the file is streamed through the CSV reader and the row normalizer; good rows go to
 * the import's UNLOGGED staging table through `COPY ... FROM STDIN`, per-row errors to
 * `import_errors`. Every chunk (`chunkRows` rows or `chunkBytes` of file) is one transaction that
 * also moves the checkpoint (byte offset and line of the next record), so a worker that dies
 * resumes at the last committed chunk and never stages a row twice.
 *
 * Merging (fingerprints: see fingerprint.ts): while the file is grouped by day, rows get their
 * fingerprint as they are read, and each committed chunk is merged into `expenses` on a second
 * connection while the next chunk is staged (`INSERT ... SELECT ... ON CONFLICT (user_id,
 * fingerprint) DO NOTHING`, one transaction per chunk with its checkpoint `merged_line`). Rows
 * after the point where the file turned out not to be grouped by day are merged after staging,
 * in batches of whole days in date order (checkpoint `merged_through`), numbered in SQL over all
 * staged rows of their day.
 *
 * Memory is bounded by one input chunk, one COPY buffer and one day's content hashes, whatever
 * the file size.
 */
import { once } from 'node:events';
import type pg from 'pg';
import type { Logger } from 'pino';
import { from as copyFrom } from 'pg-copy-streams';
import { FINGERPRINT_SQL, OccurrenceCounter } from './fingerprint.js';
import { RowNormalizer } from './normalize.js';
import { CsvFormatError, readRecords } from './reader.js';
import { stagingTable, type ImportRecord } from './repo.js';
import type { FileStagingStore } from './store.js';

export interface ProcessorOptions {
  pool: pg.Pool;
  store: FileStagingStore;
  log: Logger;
  /** This process's lease owner name (`host:pid:random`). */
  owner: string;
  /** Lease length in seconds, renewed every third of it (default 60). */
  leaseSeconds?: number;
  /** Staged rows per COPY transaction, and per merge while staging (default 50 000). */
  chunkRows?: number;
  /** File bytes per COPY transaction (default 16 MiB). */
  chunkBytes?: number;
  /** Rows per merge transaction after staging, rounded up to whole days (default 50 000). */
  mergeBatchRows?: number;
  /** Per-row errors kept for download per import (default 10 000; the count is always exact). */
  maxStoredErrors?: number;
  /** Stop at the next checkpoint and give the import back to the queue (shutdown). */
  signal?: AbortSignal;
  /** Called after each committed chunk or batch with the import's new counters. */
  onProgress?(p: Progress): void;
  /** Called once an import is done, with the months (`YYYY-MM`) it added expenses to. */
  onImported?(userId: string, months: string[]): Promise<void>;
}

export interface Progress {
  id: string;
  phase: 'staging' | 'merging';
  stagedBytes: number;
  rowsStaged: number;
  rowsMerged: number;
}

/**
 * done: imported; failed: permanently (the error is recorded); released: given back to the queue
 * (shutdown or a transient error, to be resumed); lost: the lease was lost, nothing more written.
 */
export type Outcome = 'done' | 'failed' | 'released' | 'lost';

/** Lost lease: another process owns the import now. */
class LeaseLost extends Error {}
/** Stopped on request (shutdown) after a checkpoint. */
class Stopped extends Error {}
/** An error no retry can fix. */
export class PermanentImportError extends Error {}

const STAGING_COLUMNS = '(line, spent_on, amount_cents, currency, category, description, content_hash, fingerprint)';
const CHECK_LEASE = `WHERE id = $1 AND lease_owner = $2 AND state = 'processing'`;

/** Escapes a value for COPY's text format. */
function copyText(v: string): string {
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v;
}

const noNul = (s: string) => (s.includes('\u0000') ? s.replace(/\u0000/g, ' ') : s);

interface Context {
  opts: ProcessorOptions;
  imp: ImportRecord;
  table: string;
  log: Logger;
  checkStop(): void;
  counts: { rowsStaged: number; rowsMerged: number; stagedBytes: number };
  progress(phase: Progress['phase']): void;
}

/**
 * Runs (or resumes) one import that `opts.owner` has leased. Never throws: every failure ends in
 * an outcome, and a failed import carries its reason.
 */
export async function processImport(opts: ProcessorOptions, imp: ImportRecord): Promise<Outcome> {
  const log = opts.log.child({ importId: imp.id, userId: imp.userId });
  const leaseSeconds = opts.leaseSeconds ?? 60;
  const lease = new AbortController();
  const renew = setInterval(() => {
    opts.pool.query(`UPDATE imports SET lease_expires_at = now() + make_interval(secs => $3) ${CHECK_LEASE}`, [imp.id, opts.owner, leaseSeconds]).then(
      (r) => {
        if (r.rowCount !== 1) lease.abort();
      },
      (err) => log.warn({ err: err.message }, 'import lease renewal failed'),
    );
  }, (leaseSeconds * 1000) / 3);
  renew.unref();
  const clients: pg.PoolClient[] = [];
  let merger: LineMerger | undefined;
  try {
    const client = await opts.pool.connect();
    clients.push(client);
    await client.query("SET statement_timeout = '30min'");
    if (!imp.options) throw new PermanentImportError('the import has no options (the upload never finished)');
    const table = stagingTable(imp.id);
    await client.query(`CREATE UNLOGGED TABLE IF NOT EXISTS ${table} (
        line bigint NOT NULL, spent_on date NOT NULL, amount_cents bigint NOT NULL, currency char(3) NOT NULL,
        category text NOT NULL, description text NOT NULL, content_hash uuid NOT NULL, fingerprint uuid)`);
    // Merges read staged rows by line range while staging appends in line order (a cheap, rightmost-leaf index).
    await client.query(`CREATE INDEX IF NOT EXISTS "${table.slice(table.indexOf('"') + 1, -1)}_line" ON ${table} (line)`);
    const cur = await freshStart(client, await resetIfStagingLost(client, imp, table, opts.owner, log), opts.owner);
    const ctx: Context = {
      opts,
      imp: cur,
      table,
      log,
      checkStop() {
        if (lease.signal.aborted) throw new LeaseLost();
        if (opts.signal?.aborted) throw new Stopped();
      },
      counts: { rowsStaged: cur.rowsStaged, rowsMerged: cur.rowsMerged, stagedBytes: cur.stagedBytes },
      progress(phase) {
        opts.onProgress?.({ id: cur.id, phase, ...this.counts });
      },
    };
    const mergeClient = await opts.pool.connect();
    clients.push(mergeClient);
    await mergeClient.query("SET statement_timeout = '30min'");
    merger = new LineMerger(mergeClient, ctx);
    if (cur.phase === 'staging') await stage(client, ctx, merger);
    // Every row is staged: merge what was fingerprinted while staging and is not merged yet, then the rest.
    const lastLine = Number((await client.query(`SELECT COALESCE(max(line), 0)::float8 AS l FROM ${table}`)).rows[0].l);
    merger.advance(lastLine);
    await merger.drain();
    await mergeDeferred(client, ctx);

    const months = (await client.query(`SELECT DISTINCT to_char(spent_on, 'YYYY-MM') AS m FROM ${table} ORDER BY 1`)).rows.map((r) => r.m);
    await client.query('BEGIN');
    const done = await client.query(
      `UPDATE imports SET state = 'done', phase = 'finished', error = NULL, lease_owner = NULL, lease_expires_at = NULL,
              finished_at = now(), updated_at = now() ${CHECK_LEASE}
        RETURNING rows_staged, rows_inserted, rows_duplicate, rows_skipped, rows_failed`,
      [cur.id, opts.owner],
    );
    if (done.rowCount !== 1) throw new LeaseLost();
    await client.query(`DROP TABLE ${table}`);
    await client.query('COMMIT');
    log.info({ ...done.rows[0] }, 'import done');
    await opts.store.remove(cur.id).catch((err) => log.warn({ err: err.message }, 'could not remove the staged file (the janitor will)'));
    if (opts.onImported && months.length > 0) {
      await opts.onImported(cur.userId, months).catch((err) => log.warn({ err: err.message }, 'after-import hook failed'));
    }
    return 'done';
  } catch (err) {
    await merger?.stop();
    for (const c of clients) await c.query('ROLLBACK').catch(() => undefined);
    return await settle(opts, imp, log, err);
  } finally {
    clearInterval(renew);
    for (const c of clients) c.release();
  }
}

/** Records how a failed run ends: lost, paused, failed for good, or queued again with a backoff. */
async function settle(opts: ProcessorOptions, imp: ImportRecord, log: Logger, err: unknown): Promise<Outcome> {
  const update = (sql: string, params: unknown[]) =>
    opts.pool.query(`UPDATE imports SET ${sql}, lease_owner = NULL, lease_expires_at = NULL, updated_at = now() ${CHECK_LEASE}`, [imp.id, opts.owner, ...params]).then(
      (r) => r.rowCount === 1,
      () => false,
    );
  if (err instanceof LeaseLost) {
    log.warn('import lease lost; another worker owns it now');
    return 'lost';
  }
  if (err instanceof Stopped) {
    const released = await update(`state = 'queued', available_at = now()`, []);
    log.info('import paused at a checkpoint; back in the queue');
    return released ? 'released' : 'lost';
  }
  const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
  if (err instanceof CsvFormatError || err instanceof PermanentImportError || missing) {
    const message =
      err instanceof CsvFormatError
        ? `${err.message}; nothing was imported: fix the file and upload it again`
        : missing
          ? 'the uploaded file is no longer in the staging area; nothing was imported: upload it again'
          : (err as Error).message;
    log.warn({ err: message }, 'import failed');
    return (await failAtomically(opts, imp, message)) ? 'failed' : 'lost';
  }
  // Transient (database restarting, connection lost): back to the queue with a backoff.
  const delay = Math.min(300, 5 * 2 ** Math.max(0, imp.attempts - 1));
  log.error({ err }, `import attempt failed; retrying in ${delay} s`);
  const message = `attempt ${imp.attempts} failed: ${(err as Error).message}`.slice(0, 2000);
  return (await update(`state = 'queued', available_at = now() + make_interval(secs => $3), error = $4`, [delay, message])) ? 'released' : 'lost';
}

/**
 * Fails an import for good and takes back what it merged (its rows carry its id), so a failed
 * import has imported nothing; checkpoints start over, for a retry.
 */
async function failAtomically(opts: ProcessorOptions, imp: ImportRecord, message: string): Promise<boolean> {
  const client = await opts.pool.connect();
  try {
    await client.query('BEGIN');
    const r = await client.query(
      `UPDATE imports SET state = 'failed', error = $3, finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
              phase = 'staging', staged_bytes = 0, staged_lines = 0, rows_staged = 0, merged_line = 0, merged_through = NULL,
              deferred_from_line = NULL, rows_merged = 0, rows_inserted = 0, rows_duplicate = 0, updated_at = now() ${CHECK_LEASE}`,
      [imp.id, opts.owner, message.slice(0, 2000)],
    );
    if (r.rowCount !== 1) {
      await client.query('ROLLBACK');
      return false;
    }
    await client.query('DELETE FROM expenses WHERE user_id = $1 AND import_id = $2', [imp.userId, imp.id]);
    await client.query(`DROP TABLE IF EXISTS ${stagingTable(imp.id)}`);
    await client.query('COMMIT');
    return true;
  } catch {
    await client.query('ROLLBACK').catch(() => undefined);
    return false;
  } finally {
    client.release();
  }
}

/**
 * A staging that starts at the first byte starts clean: no per-row errors or counts of an
 * earlier attempt.
 */
async function freshStart(client: pg.PoolClient, imp: ImportRecord, owner: string): Promise<ImportRecord> {
  if (imp.stagedBytes !== 0 || imp.phase !== 'staging') return imp;
  await client.query('BEGIN');
  await client.query('DELETE FROM import_errors WHERE import_id = $1', [imp.id]);
  const r = await client.query(`UPDATE imports SET rows_read = 0, rows_skipped = 0, rows_failed = 0 ${CHECK_LEASE}`, [imp.id, owner]);
  if (r.rowCount !== 1) throw new LeaseLost();
  await client.query('COMMIT');
  return { ...imp, rowsRead: 0, rowsSkipped: 0, rowsFailed: 0 };
}

/**
 * The staging table is UNLOGGED (a crash or failover of PostgreSQL empties it): when it has lost
 * rows the checkpoint says were staged, staging starts over from the first byte. Merging again is
 * harmless (fingerprints), and `staging_resets` makes the merges count this import's earlier rows
 * as inserted, so the totals stay exact.
 */
async function resetIfStagingLost(client: pg.PoolClient, imp: ImportRecord, table: string, owner: string, log: Logger): Promise<ImportRecord> {
  if (imp.rowsStaged === 0 || imp.rowsMerged >= imp.rowsStaged) return imp;
  const { rows } = await client.query(`SELECT EXISTS (SELECT 1 FROM ${table}) AS present`);
  if (rows[0].present) return imp;
  log.warn('staging table was emptied (database restart?); staging the file again from the start');
  await client.query('BEGIN');
  await client.query('DELETE FROM import_errors WHERE import_id = $1', [imp.id]);
  const r = await client.query(
    `UPDATE imports SET phase = 'staging', staged_bytes = 0, staged_lines = 0, rows_read = 0, rows_staged = 0, rows_skipped = 0,
            rows_failed = 0, merged_through = NULL, merged_line = 0, deferred_from_line = NULL, rows_merged = 0,
            rows_inserted = 0, rows_duplicate = 0, staging_resets = staging_resets + 1, updated_at = now() ${CHECK_LEASE}`,
    [imp.id, owner],
  );
  if (r.rowCount !== 1) throw new LeaseLost();
  await client.query('COMMIT');
  return {
    ...imp,
    phase: 'staging',
    stagedBytes: 0,
    stagedLines: 0,
    rowsRead: 0,
    rowsStaged: 0,
    rowsSkipped: 0,
    rowsFailed: 0,
    mergedThrough: null,
    mergedLine: 0,
    deferredFromLine: null,
    rowsMerged: 0,
    rowsInserted: 0,
    rowsDuplicate: 0,
    stagingResets: imp.stagingResets + 1,
  };
}

/** After a staging reset, conflicts with rows this import inserted before count as inserted. */
function earlierInserts(imp: ImportRecord): string {
  return imp.stagingResets > 0 ? `(SELECT count(*) FROM b JOIN expenses e ON e.user_id = $1 AND e.fingerprint = b.fingerprint AND e.import_id = $2)` : '0';
}

/**
 * Merges rows fingerprinted while staging, in line order, on its own connection: one
 * transaction per staged chunk, as soon as that chunk is committed.
 */
class LineMerger {
  private readonly targets: number[] = [];
  private running: Promise<void> | undefined;
  private error: unknown;
  private stopped = false;
  private mergedLine: number;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly ctx: Context,
  ) {
    this.mergedLine = ctx.imp.mergedLine;
  }

  /** Rows up to `line` are staged: merge them (in the background). */
  advance(line: number): void {
    this.targets.push(line);
    this.running ??= this.loop().finally(() => (this.running = undefined));
  }

  /** Throws the error that stopped merging, if any. */
  check(): void {
    if (this.error) throw this.error;
  }

  /** Waits until every target is merged. */
  async drain(): Promise<void> {
    while (this.running) await this.running;
    this.check();
  }

  /** Finishes the batch in progress and stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    const span = this.ctx.opts.chunkRows ?? 50_000;
    try {
      while (this.targets.length > 0 && !this.stopped && !this.error) {
        const target = this.targets.shift()!;
        // At most `span` lines per transaction (a resumed import may have many staged chunks to catch up on).
        while (this.mergedLine < target && !this.stopped) await this.batch(Math.min(target, this.mergedLine + span));
      }
    } catch (err) {
      this.error = err;
    }
  }

  /** Merges the fingerprinted rows of lines (merged_line, upTo]; every one of them is staged. */
  private async batch(upTo: number): Promise<void> {
    const { imp, table, opts } = this.ctx;
    this.ctx.checkStop();
    await this.client.query('BEGIN');
    const res = await this.client.query(
      `WITH b AS (
         SELECT line, amount_cents, currency, category, description, spent_on, fingerprint FROM ${table}
          WHERE line > $3 AND line <= $4 AND fingerprint IS NOT NULL),
       ins AS (
         INSERT INTO expenses (user_id, amount_cents, currency, category, description, spent_on, import_id, fingerprint)
         SELECT $1, amount_cents, currency, category, description, spent_on, $2, fingerprint FROM b ORDER BY line
         ON CONFLICT (user_id, fingerprint) DO NOTHING
         RETURNING 1)
       SELECT (SELECT count(*) FROM b)::int AS considered, (SELECT count(*) FROM ins)::int AS inserted, ${earlierInserts(imp)}::int AS mine`,
      [imp.userId, imp.id, this.mergedLine, upTo],
    );
    const { considered, inserted, mine } = res.rows[0];
    const through = upTo;
    const upd = await this.client.query(
      `UPDATE imports SET merged_line = $3, rows_merged = rows_merged + $4, rows_inserted = rows_inserted + $5,
              rows_duplicate = rows_duplicate + $6, updated_at = now() ${CHECK_LEASE}`,
      [imp.id, opts.owner, through, considered, inserted + mine, considered - inserted - mine],
    );
    if (upd.rowCount !== 1) {
      await this.client.query('ROLLBACK');
      throw new LeaseLost();
    }
    await this.client.query('COMMIT');
    this.mergedLine = through;
    this.ctx.counts.rowsMerged += considered;
    this.ctx.progress('staging');
  }
}

/** The state of the day-by-day numbering when a staging resumes (rebuilt from the staged rows). */
async function resumeCounter(client: pg.PoolClient, imp: ImportRecord, table: string): Promise<OccurrenceCounter> {
  if (imp.deferredFromLine !== null) return OccurrenceCounter.resume([], undefined, [], false);
  if (imp.rowsStaged === 0) return new OccurrenceCounter();
  const days = (await client.query(`SELECT DISTINCT to_char(spent_on, 'YYYY-MM-DD') AS d FROM ${table}`)).rows.map((r) => r.d as string);
  const last = (await client.query(`SELECT to_char(spent_on, 'YYYY-MM-DD') AS d FROM ${table} ORDER BY line DESC LIMIT 1`)).rows[0]?.d as string | undefined;
  const counts = (
    await client.query(`SELECT content_hash::text AS h, count(*)::int AS n FROM ${table} WHERE spent_on = $1 GROUP BY content_hash`, [last])
  ).rows.map((r) => [r.h, r.n] as [string, number]);
  return OccurrenceCounter.resume(days, last, counts, true);
}

/** The user's existing category spellings (most used first), which imported rows adopt. */
async function knownCategories(client: pg.PoolClient, userId: string): Promise<string[]> {
  const res = await client.query(
    'SELECT category FROM expenses WHERE user_id = $1 GROUP BY category ORDER BY count(*) DESC, category LIMIT 10000',
    [userId],
  );
  return res.rows.map((r) => r.category);
}

async function stage(client: pg.PoolClient, ctx: Context, merger: LineMerger): Promise<void> {
  const { opts, table, log, checkStop } = ctx;
  const imp = ctx.imp;
  const options = imp.options!;
  const chunkRows = opts.chunkRows ?? 50_000;
  const chunkBytes = opts.chunkBytes ?? 16 * 1024 * 1024;
  const maxErrors = opts.maxStoredErrors ?? 10_000;
  const normalizer = new RowNormalizer(options, await knownCategories(client, imp.userId));
  const counter = await resumeCounter(client, imp, table);
  let deferredFrom = imp.deferredFromLine;
  const source = await opts.store.open(imp.id, imp.stagedBytes);
  log.info({ offset: imp.stagedBytes, line: imp.stagedLines + 1 }, imp.stagedBytes === 0 ? 'staging started' : 'staging resumed');
  // A resumed import first merges what was staged before.
  if (imp.stagedLines > imp.mergedLine) merger.advance(imp.stagedLines);

  let storedErrors = Math.min(imp.rowsFailed, maxErrors);
  let needHeader = imp.stagedBytes === 0 && options.format.header;

  // The open chunk: a transaction with a COPY in progress.
  let copy: ReturnType<typeof copyFrom> | null = null;
  let chunk = { rows: 0, startOffset: imp.stagedBytes, read: 0, staged: 0, skipped: 0, failed: 0 };
  let errors: { line: number[]; reason: string[]; raw: string[] } = { line: [], reason: [], raw: [] };
  let deferredChanged = false;

  const openChunk = async () => {
    await client.query('BEGIN');
    copy = client.query(copyFrom(`COPY ${table} ${STAGING_COLUMNS} FROM STDIN`));
    // Errors surface through `once(...)` below or the rollback; an aborted COPY must not crash the process.
    copy.on('error', () => undefined);
  };
  const write = async (text: string) => {
    if (text === '') return;
    if (!copy!.write(text)) await once(copy!, 'drain');
  };
  /** Ends the COPY and commits the chunk with the checkpoint `at` (the next record's offset and line), or the end of staging. */
  const commitChunk = async (at: { offset: number; linesDone: number } | 'end') => {
    const c = copy!;
    copy = null;
    c.end();
    await once(c, 'finish');
    if (errors.line.length > 0) {
      await client.query(
        `INSERT INTO import_errors (import_id, line, reason, raw) SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[])`,
        [imp.id, errors.line, errors.reason, errors.raw],
      );
    }
    const res = await client.query(
      `UPDATE imports SET staged_bytes = CASE WHEN $3 THEN received_bytes ELSE $4 END, staged_lines = COALESCE($5, staged_lines),
              rows_read = rows_read + $6, rows_staged = rows_staged + $7, rows_skipped = rows_skipped + $8,
              rows_failed = rows_failed + $9, deferred_from_line = $10, phase = CASE WHEN $3 THEN 'merging' ELSE phase END,
              updated_at = now() ${CHECK_LEASE}
        RETURNING staged_lines`,
      [
        imp.id,
        opts.owner,
        at === 'end',
        at === 'end' ? 0 : at.offset,
        at === 'end' ? null : at.linesDone,
        chunk.read,
        chunk.staged,
        chunk.skipped,
        chunk.failed,
        deferredFrom,
      ],
    );
    if (res.rowCount !== 1) throw new LeaseLost();
    await client.query('COMMIT');
    if (deferredChanged) {
      log.info({ line: deferredFrom }, 'the file is not grouped by day: rows from here on are merged after staging');
      deferredChanged = false;
    }
    ctx.counts.rowsStaged += chunk.staged;
    ctx.counts.stagedBytes = at === 'end' ? imp.receivedBytes : at.offset;
    if (at !== 'end') merger.advance(at.linesDone);
    ctx.progress('staging');
    chunk = { rows: 0, startOffset: ctx.counts.stagedBytes, read: 0, staged: 0, skipped: 0, failed: 0 };
    errors = { line: [], reason: [], raw: [] };
  };

  try {
    await openChunk();
    for await (const batch of readRecords(source, {
      delimiter: options.format.delimiter,
      start: imp.stagedBytes,
      line: imp.stagedLines + 1,
      crOnly: options.format.lineBreak === 'CR',
    })) {
      merger.check();
      const first = batch.records[0];
      if (first && (chunk.rows >= chunkRows || first.start - chunk.startOffset >= chunkBytes || opts.signal?.aborted)) {
        await commitChunk({ offset: first.start, linesDone: first.line - 1 });
        checkStop();
        await openChunk();
      }
      checkStop();
      let text = '';
      for (const rec of batch.records) {
        if (chunk.rows >= chunkRows && rec !== first) {
          // Keep chunks near their size even with huge input batches: close at this record.
          await write(text);
          text = '';
          await commitChunk({ offset: rec.start, linesDone: rec.line - 1 });
          checkStop();
          await openChunk();
        }
        const f = rec.fields;
        if (f.length <= 1 && (f[0] ?? '').trim() === '') continue; // blank line
        if (needHeader) {
          needHeader = false;
          continue;
        }
        const r = normalizer.normalize(f);
        chunk.read++;
        chunk.rows++;
        if (r.kind === 'row') {
          const row = r.row;
          chunk.staged++;
          const fp = counter.next(row.spentOn, row.contentHash);
          if (fp === null && deferredFrom === null) {
            deferredFrom = rec.line;
            deferredChanged = true;
          }
          text += `${rec.line}\t${row.spentOn}\t${row.amountCents}\t${row.currency}\t${copyText(row.category)}\t${copyText(row.description)}\t${row.contentHash}\t${fp ?? '\\N'}\n`;
        } else if (r.kind === 'skip') {
          chunk.skipped++;
        } else if (r.kind === 'error') {
          chunk.failed++;
          if (storedErrors < maxErrors) {
            storedErrors++;
            errors.line.push(rec.line);
            errors.reason.push(noNul(r.reason));
            errors.raw.push(noNul(batch.raw(rec, 1000)));
          }
        }
        if (text.length > 1 << 20) {
          await write(text);
          text = '';
        }
      }
      await write(text);
    }
    await commitChunk('end');
  } finally {
    if (copy) (copy as ReturnType<typeof copyFrom>).destroy();
    source.destroy();
  }
  log.info({ rowsStaged: ctx.counts.rowsStaged, deferredFrom }, 'staging finished');
  ctx.imp = { ...imp, phase: 'merging', deferredFromLine: deferredFrom };
}

/**
 * Merges the rows whose fingerprint was left to SQL (the file is not grouped by day), in batches
 * of whole days in date order, each numbered over all staged rows of its days.
 */
async function mergeDeferred(client: pg.PoolClient, ctx: Context): Promise<void> {
  const { imp, table, opts } = ctx;
  if (imp.deferredFromLine === null) return;
  const batchRows = opts.mergeBatchRows ?? 50_000;
  await client.query(`CREATE INDEX IF NOT EXISTS "${table.slice(table.indexOf('"') + 1, -1)}_spent_on" ON ${table} (spent_on)`);
  await client.query(`ANALYZE ${table}`);
  let through = imp.mergedThrough;
  for (;;) {
    ctx.checkStop();
    await client.query('BEGIN');
    await client.query("SET LOCAL work_mem = '64MB'");
    const end = await client.query(
      `SELECT to_char(spent_on, 'YYYY-MM-DD') AS d FROM ${table}
        WHERE fingerprint IS NULL AND ($1::date IS NULL OR spent_on > $1) ORDER BY spent_on OFFSET $2 LIMIT 1`,
      [through, batchRows - 1],
    );
    const upTo: string | null = end.rows[0]?.d ?? null;
    const res = await client.query(
      `WITH w AS (
         SELECT line, amount_cents, currency, category, description, spent_on, fingerprint AS early, ${FINGERPRINT_SQL} AS fingerprint
           FROM ${table} WHERE ($3::date IS NULL OR spent_on > $3) AND ($4::date IS NULL OR spent_on <= $4)),
       b AS (SELECT * FROM w WHERE early IS NULL),
       ins AS (
         INSERT INTO expenses (user_id, amount_cents, currency, category, description, spent_on, import_id, fingerprint)
         SELECT $1, amount_cents, currency, category, description, spent_on, $2, fingerprint FROM b ORDER BY spent_on, line
         ON CONFLICT (user_id, fingerprint) DO NOTHING
         RETURNING 1)
       SELECT (SELECT count(*) FROM b)::int AS considered, (SELECT count(*) FROM ins)::int AS inserted, ${earlierInserts(imp)}::int AS mine,
              (SELECT to_char(max(spent_on), 'YYYY-MM-DD') FROM b) AS through`,
      [imp.userId, imp.id, through, upTo],
    );
    const { considered, inserted, mine } = res.rows[0];
    if (considered === 0) {
      await client.query('ROLLBACK');
      break;
    }
    const newThrough: string = res.rows[0].through;
    const upd = await client.query(
      `UPDATE imports SET merged_through = $3, rows_merged = rows_merged + $4, rows_inserted = rows_inserted + $5,
              rows_duplicate = rows_duplicate + $6, updated_at = now() ${CHECK_LEASE}`,
      [imp.id, opts.owner, newThrough, considered, inserted + mine, considered - inserted - mine],
    );
    if (upd.rowCount !== 1) throw new LeaseLost();
    await client.query('COMMIT');
    through = newThrough;
    ctx.counts.rowsMerged += considered;
    ctx.progress('merging');
    if (upTo === null) break;
  }
}
