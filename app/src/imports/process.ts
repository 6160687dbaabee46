/**
 * Processing one import: the staged file -> a staging table (PostgreSQL COPY) -> `expenses`.
 *
 * Phase 1, staging: the file is streamed through the CSV reader and the row normalizer; good rows
 * go to the import's UNLOGGED staging table through `COPY ... FROM STDIN`, per-row errors to
 * `import_errors`. Every chunk (`chunkRows` rows or `chunkBytes` of file) is one transaction that
 * also moves the checkpoint (byte offset and line of the next record), so a worker that dies
 * resumes at the last committed chunk and never stages a row twice.
 *
 * Phase 2, merging: staged rows are inserted into `expenses` in batches of whole days, in date
 * order (`mergeBatchRows` rows or a little more), each batch one transaction with its checkpoint
 * (`merged_through`) and counts. A row's fingerprint is
 *   md5(content hash || ':' || n)
 * where the content hash covers date, amount, currency and case-folded description, and n numbers
 * identical rows in file order. Two identical coffees on one day stay two expenses, while the same
 * statement uploaded again, or an overlapping one, matches existing fingerprints and adds nothing
 * (`ON CONFLICT (user_id, fingerprint) DO NOTHING`). Identical rows share their day, so batching by
 * whole days numbers them exactly as a single pass would.
 *
 * Memory is bounded by one input chunk and one COPY buffer, whatever the file size.
 */
import { once } from 'node:events';
import type pg from 'pg';
import type { Logger } from 'pino';
import { from as copyFrom } from 'pg-copy-streams';
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
  /** Staged rows per COPY transaction (default 50 000). */
  chunkRows?: number;
  /** File bytes per COPY transaction (default 16 MiB). */
  chunkBytes?: number;
  /** Rows per merge transaction, rounded up to whole days (default 50 000). */
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
  rowsInserted: number;
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

const STAGING_COLUMNS = '(line, spent_on, amount_cents, currency, category, description, content_hash)';

/** Escapes a value for COPY's text format. */
function copyText(v: string): string {
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v;
}

const noNul = (s: string) => (s.includes('\u0000') ? s.replace(/\u0000/g, ' ') : s);

/**
 * Runs (or resumes) one import that `opts.owner` has leased. Never throws: every failure ends in
 * an outcome, and a failed import carries its reason.
 */
export async function processImport(opts: ProcessorOptions, imp: ImportRecord): Promise<Outcome> {
  const log = opts.log.child({ importId: imp.id, userId: imp.userId });
  const leaseSeconds = opts.leaseSeconds ?? 60;
  const lease = new AbortController();
  const renew = setInterval(() => {
    opts.pool
      .query(`UPDATE imports SET lease_expires_at = now() + make_interval(secs => $3) WHERE id = $1 AND lease_owner = $2 AND state = 'processing'`, [
        imp.id,
        opts.owner,
        leaseSeconds,
      ])
      .then(
        (r) => {
          if (r.rowCount !== 1) lease.abort();
        },
        (err) => log.warn({ err: err.message }, 'import lease renewal failed'),
      );
  }, (leaseSeconds * 1000) / 3);
  renew.unref();
  const checkStop = () => {
    if (lease.signal.aborted) throw new LeaseLost();
    if (opts.signal?.aborted) throw new Stopped();
  };
  const client = await opts.pool.connect();
  try {
    await client.query("SET statement_timeout = '30min'");
    let cur = imp;
    if (!cur.options) throw new PermanentImportError('the import has no options (the upload never finished)');
    const table = stagingTable(cur.id);
    await client.query(`CREATE UNLOGGED TABLE IF NOT EXISTS ${table} (
        line bigint NOT NULL, spent_on date NOT NULL, amount_cents bigint NOT NULL, currency char(3) NOT NULL,
        category text NOT NULL, description text NOT NULL, content_hash uuid NOT NULL)`);
    cur = await resetIfStagingLost(client, cur, table, opts.owner, log);
    if (cur.phase === 'staging') cur = await stage(client, opts, cur, table, checkStop, log);
    if (cur.phase === 'merging') await merge(client, opts, cur, table, checkStop);
    const months = (await client.query(`SELECT DISTINCT to_char(spent_on, 'YYYY-MM') AS m FROM ${table} ORDER BY 1`)).rows.map((r) => r.m);
    await client.query('BEGIN');
    const done = await client.query(
      `UPDATE imports SET state = 'done', phase = 'finished', error = NULL, lease_owner = NULL, lease_expires_at = NULL,
              finished_at = now(), updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND state = 'processing'
        RETURNING rows_staged, rows_inserted, rows_duplicate, rows_skipped, rows_failed`,
      [cur.id, opts.owner],
    );
    if (done.rowCount !== 1) throw new LeaseLost();
    await client.query(`DROP TABLE ${table}`);
    await client.query('COMMIT');
    log.info({ ...done.rows[0] }, 'import done');
    await opts.store.remove(cur.id).catch((err) => log.warn({ err: err.message }, 'could not remove the staged file (the janitor will)'));
    if (opts.onImported && months.length > 0) await opts.onImported(cur.userId, months).catch((err) => log.warn({ err: err.message }, 'after-import hook failed'));
    return 'done';
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (err instanceof LeaseLost) {
      log.warn('import lease lost; another worker owns it now');
      return 'lost';
    }
    if (err instanceof Stopped) {
      const released = await releaseLeaseVia(opts.pool, imp.id, opts.owner);
      log.info('import paused at a checkpoint; back in the queue');
      return released ? 'released' : 'lost';
    }
    const permanent = err instanceof CsvFormatError || err instanceof PermanentImportError || (err as NodeJS.ErrnoException).code === 'ENOENT';
    const message =
      err instanceof CsvFormatError
        ? `${err.message}; nothing was imported: fix the file and upload it again`
        : (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'the uploaded file is no longer in the staging area; upload it again'
          : (err as Error).message;
    if (permanent) {
      log.warn({ err: message }, 'import failed');
      const failed = await opts.pool
        .query(
          `UPDATE imports SET state = 'failed', error = $3, lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now()
            WHERE id = $1 AND lease_owner = $2 AND state = 'processing'`,
          [imp.id, opts.owner, message.slice(0, 2000)],
        )
        .then((r) => r.rowCount === 1, () => false);
      return failed ? 'failed' : 'lost';
    }
    // Transient (database restarting, connection lost): back to the queue with a backoff.
    const delay = Math.min(300, 5 * 2 ** Math.max(0, imp.attempts - 1));
    log.error({ err }, `import attempt failed; retrying in ${delay} s`);
    const released = await opts.pool
      .query(
        `UPDATE imports SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, available_at = now() + make_interval(secs => $3),
                error = $4, updated_at = now()
          WHERE id = $1 AND lease_owner = $2 AND state = 'processing'`,
        [imp.id, opts.owner, delay, `attempt ${imp.attempts} failed: ${message}`.slice(0, 2000)],
      )
      .then((r) => r.rowCount === 1, () => false);
    return released ? 'released' : 'lost';
  } finally {
    clearInterval(renew);
    client.release();
  }
}

async function releaseLeaseVia(pool: pg.Pool, id: string, owner: string): Promise<boolean> {
  const r = await pool
    .query(
      `UPDATE imports SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, available_at = now(), updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND state = 'processing'`,
      [id, owner],
    )
    .catch(() => null);
  return r?.rowCount === 1;
}

/**
 * The staging table is UNLOGGED (a crash or failover of PostgreSQL empties it): when it has lost
 * rows the checkpoint says were staged, staging starts over from the first byte. Merging again is
 * harmless (fingerprints), and `staging_resets` makes the merge count this import's earlier rows as
 * inserted, so the totals stay exact.
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
            rows_failed = 0, merged_through = NULL, rows_merged = 0, rows_inserted = 0, rows_duplicate = 0,
            staging_resets = staging_resets + 1, updated_at = now()
      WHERE id = $1 AND lease_owner = $2 AND state = 'processing'`,
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
    rowsMerged: 0,
    rowsInserted: 0,
    rowsDuplicate: 0,
    stagingResets: imp.stagingResets + 1,
  };
}

/** The user's existing category spellings (most used first), which imported rows adopt. */
async function knownCategories(client: pg.PoolClient, userId: string): Promise<string[]> {
  const res = await client.query(
    'SELECT category FROM expenses WHERE user_id = $1 GROUP BY category ORDER BY count(*) DESC, category LIMIT 10000',
    [userId],
  );
  return res.rows.map((r) => r.category);
}

async function stage(
  client: pg.PoolClient,
  opts: ProcessorOptions,
  imp: ImportRecord,
  table: string,
  checkStop: () => void,
  log: Logger,
): Promise<ImportRecord> {
  const options = imp.options!;
  const chunkRows = opts.chunkRows ?? 50_000;
  const chunkBytes = opts.chunkBytes ?? 16 * 1024 * 1024;
  const maxErrors = opts.maxStoredErrors ?? 10_000;
  const normalizer = new RowNormalizer(options, await knownCategories(client, imp.userId));
  const source = await opts.store.open(imp.id, imp.stagedBytes);
  log.info({ offset: imp.stagedBytes, line: imp.stagedLines + 1 }, imp.stagedBytes === 0 ? 'staging started' : 'staging resumed');

  let storedErrors = Math.min(imp.rowsFailed, maxErrors);
  let needHeader = imp.stagedBytes === 0 && options.format.header;
  const totals = { rowsRead: imp.rowsRead, rowsStaged: imp.rowsStaged, rowsSkipped: imp.rowsSkipped, rowsFailed: imp.rowsFailed };

  // The open chunk: a transaction with a COPY in progress.
  let copy: ReturnType<typeof copyFrom> | null = null;
  let chunk = { rows: 0, startOffset: imp.stagedBytes, read: 0, staged: 0, skipped: 0, failed: 0 };
  let errors: { line: number[]; reason: string[]; raw: string[] } = { line: [], reason: [], raw: [] };

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
              rows_failed = rows_failed + $9, phase = CASE WHEN $3 THEN 'merging' ELSE phase END, updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND state = 'processing'`,
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
      ],
    );
    if (res.rowCount !== 1) throw new LeaseLost();
    await client.query('COMMIT');
    totals.rowsRead += chunk.read;
    totals.rowsStaged += chunk.staged;
    totals.rowsSkipped += chunk.skipped;
    totals.rowsFailed += chunk.failed;
    const stagedBytes = at === 'end' ? imp.receivedBytes : at.offset;
    opts.onProgress?.({ id: imp.id, phase: 'staging', stagedBytes, rowsStaged: totals.rowsStaged, rowsMerged: 0, rowsInserted: 0 });
    chunk = { rows: 0, startOffset: stagedBytes, read: 0, staged: 0, skipped: 0, failed: 0 };
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
          text += `${rec.line}\t${row.spentOn}\t${row.amountCents}\t${row.currency}\t${copyText(row.category)}\t${copyText(row.description)}\t${row.contentHash}\n`;
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
  log.info(totals, 'staging finished');
  return { ...imp, phase: 'merging', ...totals };
}

async function merge(client: pg.PoolClient, opts: ProcessorOptions, imp: ImportRecord, table: string, checkStop: () => void): Promise<void> {
  const batchRows = opts.mergeBatchRows ?? 50_000;
  await client.query(`CREATE INDEX IF NOT EXISTS "${table.slice(table.indexOf('"') + 1, -1)}_spent_on" ON ${table} (spent_on)`);
  await client.query(`ANALYZE ${table}`);
  let through = imp.mergedThrough;
  const counts = { rowsMerged: imp.rowsMerged, rowsInserted: imp.rowsInserted };
  // After a staging reset, rows this import inserted before the reset are found again: count
  // them as inserted, not as duplicates of another import.
  const mine =
    imp.stagingResets > 0
      ? `(SELECT count(*) FROM b JOIN expenses e ON e.user_id = $1 AND e.fingerprint = b.fingerprint AND e.import_id = $4)`
      : '0';
  for (;;) {
    checkStop();
    await client.query('BEGIN');
    await client.query("SET LOCAL work_mem = '64MB'");
    const end = await client.query(
      `SELECT to_char(spent_on, 'YYYY-MM-DD') AS d FROM ${table} WHERE ($1::date IS NULL OR spent_on > $1) ORDER BY spent_on OFFSET $2 LIMIT 1`,
      [through, batchRows - 1],
    );
    const upTo: string | null = end.rows[0]?.d ?? null;
    const res = await client.query(
      `WITH b AS (
         SELECT line, amount_cents, currency, category, description, spent_on,
                md5(content_hash::text || ':' || row_number() OVER (PARTITION BY content_hash ORDER BY line))::uuid AS fingerprint
           FROM ${table}
          WHERE ($2::date IS NULL OR spent_on > $2) AND ($3::date IS NULL OR spent_on <= $3)),
       ins AS (
         INSERT INTO expenses (user_id, amount_cents, currency, category, description, spent_on, import_id, fingerprint)
         SELECT $1, amount_cents, currency, category, description, spent_on, $4, fingerprint FROM b ORDER BY spent_on, line
         ON CONFLICT (user_id, fingerprint) DO NOTHING
         RETURNING 1)
       SELECT (SELECT count(*) FROM b)::int AS considered, (SELECT count(*) FROM ins)::int AS inserted, ${mine}::int AS mine,
              (SELECT to_char(max(spent_on), 'YYYY-MM-DD') FROM b) AS through`,
      [imp.userId, through, upTo, imp.id],
    );
    const { considered, inserted, mine: before } = res.rows[0];
    if (considered === 0) {
      await client.query('ROLLBACK');
      break;
    }
    const newThrough: string = res.rows[0].through;
    const upd = await client.query(
      `UPDATE imports SET merged_through = $3, rows_merged = rows_merged + $4, rows_inserted = rows_inserted + $5,
              rows_duplicate = rows_duplicate + $6, updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND state = 'processing'`,
      [imp.id, opts.owner, newThrough, considered, inserted + before, considered - inserted - before],
    );
    if (upd.rowCount !== 1) throw new LeaseLost();
    await client.query('COMMIT');
    through = newThrough;
    counts.rowsMerged += considered;
    counts.rowsInserted += inserted + before;
    opts.onProgress?.({ id: imp.id, phase: 'merging', stagedBytes: imp.receivedBytes, rowsStaged: imp.rowsStaged, ...counts });
    if (upTo === null) break;
  }
}
