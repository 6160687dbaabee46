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
 * Creates the connection pool. `max` connections (default 10); queries time out after
 * `statementTimeoutMs` milliseconds (default 10 000) so a stuck database cannot pin requests forever.
 * Errors of idle clients (the server restarted or went away) go to `onIdleError` instead of
 * crashing the process; the pool replaces those clients on the next query, so the app recovers by
 * itself when PostgreSQL returns.
 */
export function createPool(
  cfg: Config['postgres'],
  opts: { max?: number; statementTimeoutMs?: number; onIdleError?: (err: Error) => void } = {},
): pg.Pool {
  const pool = new pg.Pool({
    ...cfg,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: opts.statementTimeoutMs ?? 10_000,
    application_name: 'expense-tracker',
  });
  pool.on('error', opts.onIdleError ?? (() => undefined));
  return pool;
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

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/**
 * SQLSTATEs meaning "not now" rather than "bad request" (PostgreSQL appendix A): class 08
 * connection exceptions, 57P01-57P03 shutdown/starting, 53300 too many connections, 57014 statement
 * timeout, 25006 read-only transaction (a write reaching a standby during a failover).
 */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '57014', '25006']);
const CLIENT_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly/;

/** True when `err` (from pg or the socket under it) means PostgreSQL is unavailable, not that the query was wrong. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  if (!(err instanceof Error)) return false;
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
