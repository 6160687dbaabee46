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
 */
export function createPool(cfg: Config['postgres'], opts: { max?: number; statementTimeoutMs?: number } = {}): pg.Pool {
  return new pg.Pool({
    ...cfg,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: opts.statementTimeoutMs ?? 10_000,
    application_name: 'expense-tracker',
  });
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
