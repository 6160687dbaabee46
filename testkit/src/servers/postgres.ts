/**
 * Throwaway PostgreSQL 15 for tests and benchmarks, from Debian's packages
 * (`/usr/lib/postgresql/15/bin`), listening on 127.0.0.1 on a free port with its socket in its own
 * temp dir. When running as root the server runs as the `postgres` OS user (PostgreSQL refuses
 * root) via `runuser`; otherwise as the current user. Durability is off (fsync, full_page_writes,
 * synchronous_commit) because the data is thrown away; everything else is stock.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, chown } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { execFileSync } from 'node:child_process';
import { freePort } from '@expense-tracker/tools/process/index';

const run = promisify(execFile);

/** Where Debian installs the PostgreSQL 15 server binaries (override with PG_BIN). */
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PostgresServer {
  host: string;
  port: number;
  /** Superuser name (`postgres`); authentication is `trust` on loopback. */
  user: string;
  /** Default database (`postgres`). */
  database: string;
  /** `postgresql://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  dataDir: string;
  /** Creates an empty database and returns its connection URL. */
  createDatabase(name: string): Promise<string>;
  /** Runs SQL through psql against `database` (default `postgres`); returns stdout. */
  psql(sql: string, database?: string): Promise<string>;
  /** Stops the server (fast shutdown) and keeps its data and port, e.g. to test an outage. */
  pause(): Promise<void>;
  /** Starts a paused server again on the same port with the same data. */
  resume(): Promise<void>;
  /** Stops the server (fast shutdown) and deletes its data directory. Safe to call twice. */
  stop(): Promise<void>;
}

function asPostgres(cmd: string, args: string[]): [string, string[]] {
  if (process.getuid?.() === 0) return ['runuser', ['-u', 'postgres', '--', cmd, ...args]];
  return [cmd, args];
}

/**
 * Starts a fresh cluster (initdb ~1.5 s, start ~0.1 s).
 * @throws when the binaries are missing (install Debian's `postgresql` package) or start fails.
 */
export async function startPostgres(opts: { port?: number } = {}): Promise<PostgresServer> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'pg-test-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await chown(dataDir, uid, gid);
  }
  const port = opts.port ?? (await freePort());
  const pgdata = path.join(dataDir, 'data');
  const [initCmd, initArgs] = asPostgres(path.join(PG_BIN, 'initdb'), [
    '-D', pgdata, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8',
  ]);
  await run(initCmd, initArgs);
  const serverOpts = [
    '-c listen_addresses=127.0.0.1', `-p ${port}`, `-k ${dataDir}`,
    '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=200',
  ].join(' ');
  const [ctlCmd, ctlArgs] = asPostgres(path.join(PG_BIN, 'pg_ctl'), [
    '-D', pgdata, '-o', serverOpts, '-l', path.join(dataDir, 'server.log'), '-w', '-t', '30', 'start',
  ]);
  const [haltCmd, haltArgs] = asPostgres(path.join(PG_BIN, 'pg_ctl'), ['-D', pgdata, '-m', 'fast', '-w', 'stop']);
  try {
    await run(ctlCmd, ctlArgs);
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`postgres failed to start on port ${port}: ${(err as Error).message}`);
  }
  const host = '127.0.0.1';
  const url = `postgresql://postgres@${host}:${port}/postgres`;
  let stopped = false;
  const psql = async (sql: string, database = 'postgres') => {
    const { stdout } = await run('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port), '-U', 'postgres', '-d', database, '-c', sql]);
    return stdout;
  };
  return {
    host,
    port,
    user: 'postgres',
    database: 'postgres',
    url,
    dataDir,
    psql,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name must match [a-z_][a-z0-9_]*: ${name}`);
      await psql(`CREATE DATABASE ${name}`);
      return `postgresql://postgres@${host}:${port}/${name}`;
    },
    async pause() {
      await run(haltCmd, haltArgs);
    },
    async resume() {
      await run(ctlCmd, ctlArgs);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await run(haltCmd, haltArgs).catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
