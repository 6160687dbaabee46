/**
 * PostgreSQL access: one `pg` Pool per process, and versioned SQL migrations run by
 * node-pg-migrate (files in `app/migrations`, `-- Up Migration` / `-- Down Migration` sections).
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import type { Config } from './config.js';

/** Directory holding the SQL migrations (`app/migrations`, next to `src/` and `dist/`). */
const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

/** Table node-pg-migrate records applied migrations in. */
const MIGRATIONS_TABLE = 'pgmigrations';

/**
 * Creates the connection pool ({@link AppPool}). `max` connections (default 10); a request waits
 * at most 5 seconds for one (`connectionTimeoutMillis`, which also bounds opening a connection);
 * queries time out after `statementTimeoutMs` milliseconds (default 10 000) so a stuck database
 * cannot pin requests forever. Errors of idle clients (the server restarted or went away) go to
 * `onIdleError` instead of crashing the process; the pool replaces those clients on the next
 * query, so the app recovers by itself when PostgreSQL returns.
 */
export function createPool(
  cfg: Config['postgres'],
  opts: { max?: number; statementTimeoutMs?: number; onIdleError?: (err: Error) => void } = {},
): AppPool {
  const pool = new AppPool({
    ...cfg,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: opts.statementTimeoutMs ?? 10_000,
    application_name: 'expense-tracker',
  });
  pool.on('error', (err) => {
    pool.lastConnect = 'failed';
    (opts.onIdleError ?? (() => undefined))(err);
  });
  return pool;
}

/** What an acquire timeout meant: every connection busy with other requests, or no database. */
export type AcquireTimeoutCause = 'busy' | 'unavailable';

/**
 * A `pg.Pool` that tells an exhausted pool from an unreachable database. pg-pool answers both "no
 * connection became free within `connectionTimeoutMillis`" and "connections to PostgreSQL cannot
 * be opened" with errors the app used to treat alike. This pool remembers the outcome of the
 * latest connection it handed out or failed to open, and turns a wait that timed out into a
 * {@link DatabaseBusyError} when that outcome was a success (PostgreSQL answers; every connection
 * is busy with other requests), or leaves it an unavailable-database error when the latest
 * attempt failed (connection refused, connect timeout, a client dropped by the server). Each such
 * timeout emits `acquireTimeout` with its {@link AcquireTimeoutCause} (for the metric).
 *
 * A database that stops answering without refusing (a network partition) is reported busy until
 * the first connection attempt times out (`connectionTimeoutMillis`), then unavailable.
 */
export class AppPool extends pg.Pool {
  /** Outcome of the latest connection handed out (`ok`) or that could not be opened or broke (`failed`). */
  lastConnect: 'ok' | 'failed' | undefined;
  /** Time (ms since the epoch) of the latest wait for a connection that timed out while the database answered. */
  lastBusyAt = 0;

  /** True while requests queue for a connection or one gave up waiting within the last `withinMs`. */
  exhausted(withinMs: number): boolean {
    return this.waitingCount > 0 || Date.now() - this.lastBusyAt < withinMs;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void;
  override connect(
    callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): Promise<pg.PoolClient> | void {
    if (!callback) {
      return new Promise((resolve, reject) => {
        this.connect((err, client) => (err ? reject(err) : resolve(client!)));
      });
    }
    // pool.query() acquires through this method too (`this.connect(cb)` in pg-pool).
    super.connect((err, client, done) => {
      if (!err) {
        this.lastConnect = 'ok';
        return callback(undefined, client, done);
      }
      if (isPoolAcquireTimeout(err)) {
        const cause: AcquireTimeoutCause = this.lastConnect === 'failed' ? 'unavailable' : 'busy';
        this.emit('acquireTimeout', cause);
        if (cause === 'busy') {
          this.lastBusyAt = Date.now();
          return callback(new DatabaseBusyError(err), undefined, done);
        }
      } else if (isDatabaseUnavailable(err)) {
        this.lastConnect = 'failed';
      }
      callback(err, undefined, done);
    });
  }
}

/**
 * Runs `fn` in a transaction on one pool client: COMMIT when it resolves, ROLLBACK when it throws
 * (the error is rethrown). A client whose connection failed is discarded, not returned to the pool.
 */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.release(broken);
  }
}

/** The database could not be reached or refused work for a transient reason; answered 503. */
export class DatabaseUnavailableError extends Error {
  readonly statusCode = 503;
  constructor(cause?: unknown) {
    super('The database is unreachable at the moment. Nothing was changed; please try again in a few seconds.', { cause });
    this.name = 'DatabaseUnavailableError';
  }
}

/**
 * The database answers, but every connection of this replica's pool stayed busy with other
 * requests for as long as a request may wait (overload); answered 503 with its own code.
 */
export class DatabaseBusyError extends Error {
  readonly statusCode = 503;
  constructor(cause?: unknown) {
    super('We are handling more requests than we can right now. Nothing was changed; please try again in a few seconds.', { cause });
    this.name = 'DatabaseBusyError';
  }
}

/** pg-pool's error when no client became free within `connectionTimeoutMillis` (opening one that times out says "Connection terminated due to connection timeout"). */
const ACQUIRE_TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';

/** True when `err` is pg-pool's "waited `connectionTimeoutMillis` for a free client in vain". */
export function isPoolAcquireTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === ACQUIRE_TIMEOUT_MESSAGE;
}

/**
 * SQLSTATEs meaning "PostgreSQL answers but has no capacity for this now" (appendix A): 53300 too
 * many connections, 57014 query canceled (the statement timeout of a query that waited or ran too
 * long). Answered like an exhausted pool, not as an unreachable database.
 */
const BUSY_SQLSTATES = new Set(['53300', '57014']);

/**
 * True when `err` means the database answers but had no capacity for the request: this replica's
 * pool had no free connection in time (see {@link AppPool}), PostgreSQL refused another connection,
 * or the statement timeout ended the query.
 */
export function isDatabaseBusy(err: unknown): boolean {
  if (err instanceof DatabaseBusyError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && BUSY_SQLSTATES.has(code);
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/**
 * SQLSTATEs meaning "not reachable now" rather than "bad request" (PostgreSQL appendix A): class
 * 08 connection exceptions, 57P01-57P03 shutdown/starting, 25006 read-only transaction (a write
 * reaching a standby during a failover).
 */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '25006']);
const CLIENT_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly/;

/**
 * True when `err` (from pg or the socket under it) means PostgreSQL is unavailable, not that the
 * query was wrong. A pool wait that timed out counts, unless {@link AppPool} classified it as
 * {@link DatabaseBusyError} (check {@link isDatabaseBusy} first).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  if (!(err instanceof Error) || isDatabaseBusy(err)) return false;
  const e = err as Error & { code?: string; errors?: unknown[] };
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || e.code.startsWith('08') || TRANSIENT_SQLSTATES.has(e.code))) return true;
  if (Array.isArray(e.errors) && e.errors.some(isDatabaseUnavailable)) return true; // AggregateError of a dual-stack connect
  return CLIENT_MESSAGES.test(e.message);
}

/**
 * Applies every pending migration (direction up) inside an advisory lock, so two replicas or
 * initContainers running at once apply each migration once. Returns the names applied.
 * @throws the database or SQL error of the failing migration (that migration is rolled back).
 */
export async function migrate(
  cfg: Config['postgres'],
  log: (msg: string) => void = () => {},
): Promise<string[]> {
  const client = new pg.Client({ ...cfg, application_name: 'expense-tracker-migrate' });
  await client.connect();
  try {
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      migrationsTable: MIGRATIONS_TABLE,
      direction: 'up',
      count: Infinity,
      checkOrder: true,
      singleTransaction: true,
      advisoryLockMode: 'wait',
      log,
    });
    return applied.map((m) => m.name);
  } finally {
    await client.end();
  }
}
