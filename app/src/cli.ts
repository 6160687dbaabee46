/**
 * Admin commands (`node dist/cli.js <command>`):
 *   migrate               apply pending SQL migrations (the chart's initContainer); exit 0 when done
 *   create-admin <email>  make <email> an administrator: promotes the account, or records a grant
 *                         so the account is admin when it registers
 * Reads the same environment as the server (only the database part is required here).
 * Exit codes: 0 ok, 2 bad usage or configuration, 1 runtime failure (message on stderr).
 */
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { envSchema, ConfigError, postgresConnection, readEnvironment, type Config } from './config.js';
import { createPool, migrate } from './db.js';
import { grantAdmin } from './repo.js';

const USAGE = 'usage: cli.js migrate | cli.js create-admin <email>';

/** Database settings only, validated like the server's (so migrate needs no Redis/SendGrid env). */
function loadDatabaseConfig(env: NodeJS.ProcessEnv = process.env): Config['postgres'] {
  const schema = envSchema.pick({ DATABASE_URL: true, PGHOST: true, PGPORT: true, PGDATABASE: true, PGUSER: true, PGPASSWORD: true });
  const { picked, issues, label } = readEnvironment(env, Object.keys(schema.shape));
  if (issues.length > 0) throw new ConfigError(issues);
  const r = schema.safeParse(picked);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => `${label(String(i.path[0]))}: ${i.message}`));
  const e = r.data;
  const missing = e.DATABASE_URL ? [] : (['PGHOST', 'PGDATABASE', 'PGUSER'] as const).filter((k) => !e[k]);
  if (missing.length) throw new ConfigError(missing.map((k) => `${k}: is required when DATABASE_URL is not set`));
  return postgresConnection(e);
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  let db: Config['postgres'];
  try {
    if (command !== 'migrate' && command !== 'create-admin') throw new Error(USAGE);
    db = loadDatabaseConfig(env);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  if (command === 'migrate') {
    const applied = await migrate(db);
    process.stdout.write(applied.length ? `applied migrations: ${applied.join(', ')}\n` : 'no pending migrations\n');
    return 0;
  }
  const parsed = z.email().safeParse((rest[0] ?? '').trim().toLowerCase());
  if (rest.length !== 1 || !parsed.success) {
    process.stderr.write(`create-admin: <email> must be one email address\n${USAGE}\n`);
    return 2;
  }
  const pool = createPool(db, { max: 1 });
  try {
    const promoted = await grantAdmin(pool, parsed.data);
    process.stdout.write(
      promoted ? `${parsed.data} is now an administrator\n` : `${parsed.data} will be an administrator when it registers\n`,
    );
    return 0;
  } finally {
    await pool.end();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`cli: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
