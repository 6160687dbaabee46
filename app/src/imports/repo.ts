/**
 * SQL for the `imports` table: creation by the upload, claims and leases for workers, progress
 * and state for the API. Every user-facing query is scoped by `user_id` (another user's import
 * id matches nothing, as for expenses).
 *
 * Leases: the process working on an import (the web process while receiving the upload, a worker
 * while processing) is `lease_owner` until `lease_expires_at`, renewed while it works. Every state
 * change made by the owner checks it still holds the lease, so a process that stalled past its
 * lease (and was replaced) cannot write anything afterwards.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { ImportOptions } from './options.js';

export type ImportState = 'receiving' | 'queued' | 'processing' | 'done' | 'failed';
export type ImportPhase = 'staging' | 'merging' | 'finished';

/** A lease owner name unique to this process: `<hostname>:<pid>:<random>` (the pod name in Kubernetes). */
export function defaultOwner(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** PostgreSQL NOTIFY channel: a payload of an import id means "queued, come and get it". */
export const IMPORTS_CHANNEL = 'imports_queued';

export interface ImportRecord {
  id: string;
  userId: string;
  state: ImportState;
  phase: ImportPhase;
  fileName: string;
  /** Declared size of the upload (Content-Length), bytes. */
  sizeBytes: number;
  receivedBytes: number;
  sha256: string | null;
  options: ImportOptions | null;
  /** Staging checkpoint: byte offset after the last staged record, and its line number. */
  stagedBytes: number;
  stagedLines: number;
  rowsRead: number;
  rowsStaged: number;
  rowsSkipped: number;
  rowsFailed: number;
  /** Merge checkpoint of rows fingerprinted in SQL: those dated up to this day (`YYYY-MM-DD`) are in `expenses`. */
  mergedThrough: string | null;
  /** Merge checkpoint of rows fingerprinted while staging: those up to this line are in `expenses`. */
  mergedLine: number;
  /** First line whose fingerprint is computed in SQL after staging (the file is not grouped by day), or null. */
  deferredFromLine: number | null;
  rowsMerged: number;
  rowsInserted: number;
  rowsDuplicate: number;
  /** Times staging started over because the UNLOGGED staging table was emptied by a database crash. */
  stagingResets: number;
  error: string | null;
  attempts: number;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

type Queryable = pg.Pool | pg.PoolClient;

const COLUMNS = `id, user_id, state, phase, file_name, size_bytes, received_bytes, sha256, options,
  staged_bytes, staged_lines, rows_read, rows_staged, rows_skipped, rows_failed,
  to_char(merged_through, 'YYYY-MM-DD') AS merged_through, merged_line, deferred_from_line, rows_merged, rows_inserted, rows_duplicate,
  staging_resets, error, attempts, lease_owner, lease_expires_at, created_at, updated_at, started_at, finished_at`;

function toImport(r: Record<string, any>): ImportRecord {
  return {
    id: r.id,
    userId: r.user_id,
    state: r.state,
    phase: r.phase,
    fileName: r.file_name,
    sizeBytes: Number(r.size_bytes),
    receivedBytes: Number(r.received_bytes),
    sha256: r.sha256,
    options: r.options,
    stagedBytes: Number(r.staged_bytes),
    stagedLines: Number(r.staged_lines),
    rowsRead: Number(r.rows_read),
    rowsStaged: Number(r.rows_staged),
    rowsSkipped: Number(r.rows_skipped),
    rowsFailed: Number(r.rows_failed),
    mergedThrough: r.merged_through,
    mergedLine: Number(r.merged_line),
    deferredFromLine: r.deferred_from_line === null ? null : Number(r.deferred_from_line),
    rowsMerged: Number(r.rows_merged),
    rowsInserted: Number(r.rows_inserted),
    rowsDuplicate: Number(r.rows_duplicate),
    stagingResets: r.staging_resets,
    error: r.error,
    attempts: r.attempts,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

/** Creates an import in state `receiving`, leased to the uploading process. Returns its id. */
export async function createImport(
  db: Queryable,
  i: { userId: string; fileName: string; sizeBytes: number; owner: string; leaseSeconds: number },
): Promise<string> {
  const res = await db.query(
    `INSERT INTO imports (user_id, file_name, size_bytes, lease_owner, lease_expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) RETURNING id`,
    [i.userId, i.fileName, i.sizeBytes, i.owner, i.leaseSeconds],
  );
  return res.rows[0].id;
}

/** Records upload progress and extends the uploader's lease. False when the lease is gone. */
export async function touchReceiving(db: Queryable, id: string, owner: string, receivedBytes: number, leaseSeconds: number): Promise<boolean> {
  const res = await db.query(
    `UPDATE imports SET received_bytes = $3, lease_expires_at = now() + make_interval(secs => $4), updated_at = now()
      WHERE id = $1 AND lease_owner = $2 AND state = 'receiving'`,
    [id, owner, receivedBytes, leaseSeconds],
  );
  return res.rowCount === 1;
}

/** The upload is stored: `queued` for a worker (notified), with the options it will be read with. */
export async function markQueued(
  db: Queryable,
  id: string,
  owner: string,
  r: { receivedBytes: number; sha256: string; options: ImportOptions },
): Promise<boolean> {
  const res = await db.query(
    `WITH q AS (
       UPDATE imports SET state = 'queued', received_bytes = $3, sha256 = $4, options = $5,
              lease_owner = NULL, lease_expires_at = NULL, available_at = now(), updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND state = 'receiving' RETURNING id)
     SELECT id, pg_notify($6, id::text) FROM q`,
    [id, owner, r.receivedBytes, r.sha256, JSON.stringify(r.options), IMPORTS_CHANNEL],
  );
  return res.rowCount === 1;
}

/** Removes an import that never was (its upload was refused as a client error). */
export async function deleteImport(db: Queryable, id: string): Promise<void> {
  await db.query('DELETE FROM imports WHERE id = $1', [id]);
}

/**
 * Marks an import failed with `error`. With `owner`, only while that process holds the lease.
 * Returns whether the row changed.
 */
export async function failImport(db: Queryable, id: string, error: string, owner?: string): Promise<boolean> {
  const res = await db.query(
    `UPDATE imports SET state = 'failed', error = $2, lease_owner = NULL, lease_expires_at = NULL,
            finished_at = now(), updated_at = now()
      WHERE id = $1 AND state NOT IN ('done', 'failed') AND ($3::text IS NULL OR lease_owner = $3)`,
    [id, error.slice(0, 2000), owner ?? null],
  );
  return res.rowCount === 1;
}

export async function getImport(db: Queryable, userId: string, id: string): Promise<ImportRecord | null> {
  const res = await db.query(`SELECT ${COLUMNS} FROM imports WHERE id = $1 AND user_id = $2`, [id, userId]);
  return res.rows[0] ? toImport(res.rows[0]) : null;
}

export async function getImportById(db: Queryable, id: string): Promise<ImportRecord | null> {
  const res = await db.query(`SELECT ${COLUMNS} FROM imports WHERE id = $1`, [id]);
  return res.rows[0] ? toImport(res.rows[0]) : null;
}

/** The user's imports, newest first. */
export async function listImports(db: Queryable, userId: string, limit = 20): Promise<ImportRecord[]> {
  const res = await db.query(`SELECT ${COLUMNS} FROM imports WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2`, [userId, limit]);
  return res.rows.map(toImport);
}

/** Imports of any user in the given states, oldest first (operator CLI). */
export async function listByState(db: Queryable, states: ImportState[], limit = 100): Promise<ImportRecord[]> {
  const res = await db.query(`SELECT ${COLUMNS} FROM imports WHERE state = ANY($1) ORDER BY created_at LIMIT $2`, [states, limit]);
  return res.rows.map(toImport);
}

/** What counts against a user's quota: unfinished imports, and bytes uploaded in the last 24 hours. */
export async function quotaUsage(db: Queryable, userId: string): Promise<{ active: number; bytesToday: number; oldestTodayAt: Date | null }> {
  const res = await db.query(
    `SELECT count(*) FILTER (WHERE state IN ('receiving', 'queued', 'processing'))::int AS active,
            COALESCE(sum(size_bytes) FILTER (WHERE created_at > now() - interval '24 hours'), 0)::float8 AS bytes_today,
            min(created_at) FILTER (WHERE created_at > now() - interval '24 hours') AS oldest
       FROM imports WHERE user_id = $1`,
    [userId],
  );
  const r = res.rows[0];
  return { active: r.active, bytesToday: Number(r.bytes_today), oldestTodayAt: r.oldest };
}

const CLAIM_SET = `state = 'processing', lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2),
  attempts = attempts + 1, started_at = COALESCE(started_at, now()), updated_at = now()`;

/**
 * Leases the oldest runnable import: queued and due, or processing with an expired lease (its
 * worker died). A user's second import waits while their first one is being processed.
 */
export async function claimNext(db: Queryable, owner: string, leaseSeconds: number): Promise<ImportRecord | null> {
  const res = await db.query(
    `UPDATE imports SET ${CLAIM_SET}
      WHERE id = (
        SELECT c.id FROM imports c
         WHERE ((c.state = 'queued' AND c.available_at <= now()) OR (c.state = 'processing' AND c.lease_expires_at < now()))
           AND NOT EXISTS (SELECT 1 FROM imports o WHERE o.user_id = c.user_id AND o.id <> c.id
                            AND o.state = 'processing' AND o.lease_expires_at >= now())
         ORDER BY c.created_at
         FOR UPDATE SKIP LOCKED LIMIT 1)
      RETURNING ${COLUMNS}`,
    [owner, leaseSeconds],
  );
  return res.rows[0] ? toImport(res.rows[0]) : null;
}

/** Leases one queued import (the web process processing a small upload itself). */
export async function claimQueued(db: Queryable, id: string, owner: string, leaseSeconds: number): Promise<ImportRecord | null> {
  const res = await db.query(`UPDATE imports SET ${CLAIM_SET} WHERE id = $3 AND state = 'queued' RETURNING ${COLUMNS}`, [owner, leaseSeconds, id]);
  return res.rows[0] ? toImport(res.rows[0]) : null;
}

/** Extends a processing lease. False when the lease is lost (expired and taken, or the import failed). */
export async function renewLease(db: Queryable, id: string, owner: string, leaseSeconds: number): Promise<boolean> {
  const res = await db.query(
    `UPDATE imports SET lease_expires_at = now() + make_interval(secs => $3)
      WHERE id = $1 AND lease_owner = $2 AND state = 'processing'`,
    [id, owner, leaseSeconds],
  );
  return res.rowCount === 1;
}

/**
 * Gives a processing import back to the queue (shutdown, or a transient error: then `error` is
 * kept for the record and the next attempt waits `delaySeconds`). Work done so far is kept.
 */
export async function releaseLease(db: Queryable, id: string, owner: string, delaySeconds = 0, error: string | null = null): Promise<boolean> {
  const res = await db.query(
    `UPDATE imports SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL,
            available_at = now() + make_interval(secs => $3), error = COALESCE($4, error), updated_at = now()
      WHERE id = $1 AND lease_owner = $2 AND state = 'processing'`,
    [id, owner, delaySeconds, error],
  );
  return res.rowCount === 1;
}

/**
 * Puts a failed import back in the queue; it resumes from its checkpoints (the staged file must
 * still exist). Returns false when the import is not failed.
 */
export async function retryImport(db: Queryable, id: string): Promise<boolean> {
  const res = await db.query(
    `WITH q AS (
       UPDATE imports SET state = 'queued', error = NULL, attempts = 0, available_at = now(), finished_at = NULL, updated_at = now()
        WHERE id = $1 AND state = 'failed' RETURNING id)
     SELECT id, pg_notify($2, id::text) FROM q`,
    [id, IMPORTS_CHANNEL],
  );
  return res.rowCount === 1;
}

/** Fails uploads whose uploading process went away (lease expired while receiving). Returns their ids. */
export async function failAbandonedUploads(db: Queryable): Promise<string[]> {
  const res = await db.query(
    `UPDATE imports SET state = 'failed', error = 'the upload was interrupted; upload the file again',
            lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now()
      WHERE state = 'receiving' AND lease_expires_at < now() RETURNING id`,
  );
  return res.rows.map((r) => r.id);
}

/** Staging table of one import (a quoted, schema-qualified identifier). */
export function stagingTable(id: string): string {
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error(`not an import id: ${id}`);
  return `import_staging."i_${id.replace(/-/g, '')}"`;
}
