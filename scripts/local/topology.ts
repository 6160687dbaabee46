/**
 * The seeds' compose topology as processes on loopback, without Docker: PostgreSQL, Redis,
 * N instances of the real app (`app/src/server.ts` through tsx) and HAProxy in front, configured
 * by the same mapping as the cluster (`renderHaproxyConfig(env, { kind: 'local', … })`).
 *
 * Used by `npm run local` (persistent PostgreSQL data, its own Redis), the HAProxy integration
 * tests and `bench/haproxy.ts` (which pass in servers of their own). Every process is a child of
 * the caller; `stop()` ends them all and waits for each to exit.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { READY_PATH } from '@expense-tracker/model/app-contract';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { renderHaproxyConfig, type LocalTarget } from '../../charts/haproxy-config.js';
import { onOutputLines, startHaproxy, type HaproxyProcess } from './haproxy.js';

const run = promisify(execFile);
const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SERVER_TS = join(REPO, 'app', 'src', 'server.ts');
const CLI_TS = join(REPO, 'app', 'src', 'cli.ts');
/** Debian's PostgreSQL 15 server binaries (override with PG_BIN). */
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** Debian's Redis 7 server (override with REDIS_SERVER). */
const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** Receives log lines of every process, tagged with the process name. */
export type LogSink = (source: string, line: string) => void;

async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A free TCP port on 127.0.0.1 (the kernel's choice). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r, j) => server.once('error', j).listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Resolves once 127.0.0.1:`port` accepts a connection. */
function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  return until(`127.0.0.1:${port}`, timeoutMs, () =>
    new Promise((r) => {
      const socket = net.connect(port, '127.0.0.1', () => r(socket.destroy() !== undefined)).once('error', () => r(false));
    }),
  );
}

/** One app process on 127.0.0.1; can be stopped and started again on the same ports. */
export class AppInstance {
  private child: ChildProcess | undefined;
  private exit: Promise<number | string> | undefined;

  /**
   * @param name label in logs (`web1`)
   * @param port TCP port (`PORT`)
   * @param metricsPort TCP port of its `/metrics` listener (`METRICS_PORT`)
   * @param env the app's environment (model/app-contract.ts names) without PORT and METRICS_PORT
   * @param sink log receiver
   */
  constructor(
    readonly name: string,
    readonly port: number,
    readonly metricsPort: number,
    private readonly env: Record<string, string>,
    private readonly sink: LogSink,
  ) {}

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts the server and waits until `GET /readyz` answers 200.
   * @throws Error with the process output when it exits or is not ready within `timeoutMs` (default 60 s)
   */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const child = spawn(process.execPath, ['--import', 'tsx', SERVER_TS], {
      cwd: REPO,
      env: { PATH: process.env.PATH, ...this.env, HOST: '127.0.0.1', PORT: String(this.port), METRICS_PORT: String(this.metricsPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exit = new Promise((r) => child.once('exit', (code, signal) => r(code ?? signal ?? 'unknown')));
    const out: string[] = [];
    onOutputLines(child, (l) => {
      out.push(l);
      if (out.length > 50) out.shift();
      this.sink(this.name, l);
    });
    try {
      await until(`${this.name} ${READY_PATH}`, timeoutMs, async () => {
        if (!this.running) throw new Error('exited');
        const r = await fetch(`${this.url}${READY_PATH}`);
        await r.arrayBuffer();
        return r.status === 200;
      });
      if (!this.running) throw new Error('exited');
    } catch (error) {
      child.kill('SIGKILL');
      await this.exit;
      throw new Error(`${this.name} did not become ready (${(error as Error).message}):\n${out.join('\n')}`);
    }
  }

  /**
   * Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`, default 30 s).
   * SIGTERM is the graceful path: readiness fails, the listener drains, the process exits 0.
   * @returns the exit code or signal name; undefined if it was not running
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | string | undefined> {
    const child = this.child;
    if (!child || !this.running) return undefined;
    child.kill(signal);
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await this.exit!;
    clearTimeout(t);
    return code;
  }
}

/** A server the app uses: its URL (no credentials) and how to stop it. */
interface Service {
  readonly url: string;
  stop(): Promise<void>;
}

/** A PostgreSQL reachable by the app. */
interface Database {
  /** `postgresql://…/<database>` for the app. */
  readonly url: string;
  stop(): Promise<void>;
}

async function asPostgresUser(cmd: string, args: string[]): Promise<{ stdout: string }> {
  return process.getuid?.() === 0 ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args);
}

/**
 * A PostgreSQL 15 cluster whose data stays in `dir/data` across runs (initdb on first use),
 * socket in `dir`, listening on 127.0.0.1:`port`; creates database `database` if missing.
 * As root the server runs as the `postgres` OS user (PostgreSQL refuses root).
 * @throws Error with pg_ctl's output when the server does not start (e.g. port taken, stale postmaster.pid of a live server)
 */
export async function startPersistentPostgres(dir: string, port: number, database: string, sink: LogSink): Promise<Database> {
  const data = join(dir, 'data');
  await mkdir(dir, { recursive: true });
  if (process.getuid?.() === 0) {
    const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
    await chown(dir, await id('-u'), await id('-g'));
  }
  if (!existsSync(join(data, 'PG_VERSION'))) {
    sink('postgres', `initdb ${data}`);
    await asPostgresUser(join(PG_BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8']);
  }
  const opts = ['-c listen_addresses=127.0.0.1', `-p ${port}`, `-k ${dir}`].join(' ');
  try {
    await asPostgresUser(join(PG_BIN, 'pg_ctl'), ['-D', data, '-o', opts, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);
  } catch (error) {
    throw new Error(`postgres did not start (see ${join(dir, 'server.log')}): ${(error as Error).message}`);
  }
  const psql = (sql: string) =>
    run('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql]);
  const exists = (await psql(`SELECT 1 FROM pg_database WHERE datname = '${database}'`)).stdout.trim() === '1';
  if (!exists) await psql(`CREATE DATABASE ${database}`);
  sink('postgres', `listening on 127.0.0.1:${port}, data in ${data}`);
  let stopped = false;
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/${database}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await asPostgresUser(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
    },
  };
}

/**
 * Redis on 127.0.0.1:`port` with `requirepass`, as a pure cache (no snapshots, no append-only
 * file; its directory is `dir`), a child of this process.
 * @throws Error with the server's output when it exits or does not listen within 10 s
 */
export async function startLocalRedis(dir: string, port: number, password: string, sink: LogSink): Promise<Service> {
  await mkdir(dir, { recursive: true });
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--requirepass', password];
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const out: string[] = [];
  onOutputLines(child, (l) => {
    out.push(l);
    sink('redis', l);
  });
  try {
    await until(`redis on 127.0.0.1:${port}`, 10_000, async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error('exited');
      await waitForPort(port, 200);
      return true;
    });
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`redis-server did not start (${(error as Error).message}):\n${out.slice(-20).join('\n')}`);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** A stand-in for SendGrid's `POST /v3/mail/send` that logs each mail and answers 202. */
async function startMailSink(sink: LogSink): Promise<{ url: string; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let summary = `${req.method} ${req.url}`;
      try {
        const mail = JSON.parse(body);
        summary = `to=${mail.personalizations?.[0]?.to?.[0]?.email} subject=${JSON.stringify(mail.subject)}`;
      } catch {
        /* not JSON: log the request line */
      }
      sink('mail', summary);
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}

/** Options for `startLocalTopology`. */
export interface LocalTopologyOptions {
  /** Environment whose `haproxy` section configures the load balancer (`local` for `npm run local`). */
  readonly environment: EnvironmentConfig;
  /**
   * Number of app instances behind HAProxy.
   * @default 2
   */
  readonly instances?: number;
  /**
   * Extra instances started as HAProxy `backup` servers.
   * @default 0
   */
  readonly backupInstances?: number;
  /**
   * Public HAProxy port on 127.0.0.1.
   * @default a free port
   */
  readonly port?: number;
  /**
   * HAProxy stats/metrics port.
   * @default a free port
   */
  readonly statsPort?: number;
  /** Directory for the rendered cfg and the runtime socket. */
  readonly workDir: string;
  /**
   * `persistent`: a PostgreSQL whose data in `dir` survives restarts (`npm run local`);
   * `external`: a database the caller runs (`url` with the database name; tests, benchmarks).
   */
  readonly postgres: { readonly kind: 'persistent'; readonly dir: string; readonly port?: number } | { readonly kind: 'external'; readonly url: string };
  /**
   * A Redis the caller runs (`url` without credentials, its `requirepass`).
   * @default - a Redis started for the topology in `<workDir>/redis`, stopped with it
   */
  readonly redis?: { readonly url: string; readonly password?: string };
  /** Health check overrides of the rendered cfg. */
  readonly healthCheck?: LocalTarget['healthCheck'];
  /**
   * Log receiver for every process.
   * @default discard
   */
  readonly log?: LogSink;
  /**
   * App LOG_LEVEL.
   * @default 'warn'
   */
  readonly appLogLevel?: string;
}

/** Everything `startLocalTopology` started. */
export interface LocalTopology {
  /** The app through HAProxy: `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly haproxy: HaproxyProcess;
  /** Primary instances (`web1`…), then backups (`web-backup1`…), in HAProxy's server order. */
  readonly instances: readonly AppInstance[];
  /** The Redis the app instances use. */
  readonly redis: { readonly url: string };
  readonly databaseUrl: string;
  /** The rendered haproxy.cfg. */
  readonly config: string;
  /** Stops HAProxy, the app instances, Redis, PostgreSQL and the mail sink; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts PostgreSQL (and migrates), Redis, a mail sink, the app instances and HAProxy, in that
 * order, and waits until each is ready. On any failure everything already started is stopped
 * before the error propagates.
 * @throws Error naming the component that failed, with its output
 */
export async function startLocalTopology(options: LocalTopologyOptions): Promise<LocalTopology> {
  const log = options.log ?? (() => undefined);
  const count = options.instances ?? 2;
  const backups = options.backupInstances ?? 0;
  if (!Number.isInteger(count) || count < 1 || count > 32) throw new Error(`instances must be an integer from 1 to 32, got ${count}`);
  if (!Number.isInteger(backups) || backups < 0 || backups > 8) throw new Error(`backupInstances must be an integer from 0 to 8, got ${backups}`);
  const cleanups: (() => Promise<unknown>)[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      for (const c of cleanups.reverse()) await c().catch((e) => log('local', `cleanup failed: ${(e as Error).message}`));
    })());
  try {
    await mkdir(options.workDir, { recursive: true });
    const env = options.environment;
    let db: Database;
    if (options.postgres.kind === 'persistent') {
      db = await startPersistentPostgres(options.postgres.dir, options.postgres.port ?? (await freePort()), env.postgres.database, log);
    } else {
      db = { url: options.postgres.url, stop: async () => undefined };
    }
    cleanups.push(() => db.stop());

    let redis: { url: string; password?: string };
    if (options.redis) {
      redis = options.redis;
    } else {
      const password = randomBytes(16).toString('hex');
      const started = await startLocalRedis(join(options.workDir, 'redis'), await freePort(), password, log);
      cleanups.push(() => started.stop());
      redis = { url: started.url, password };
    }
    const mail = await startMailSink(log);
    cleanups.push(() => mail.stop());

    const port = options.port ?? (await freePort());
    const statsPort = options.statsPort ?? (await freePort());
    const appEnv: Record<string, string> = {
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      ...(redis.password ? { REDIS_PASSWORD: redis.password } : {}),
      SESSION_SECRET: randomBytes(32).toString('hex'),
      SENDGRID_API_KEY: 'SG.local-sink',
      SENDGRID_API_URL: mail.url,
      MAIL_FROM: env.app.mailFrom,
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      LOG_LEVEL: options.appLogLevel ?? 'warn',
      ...(env.app.adminEmail ? { ADMIN_EMAIL: env.app.adminEmail } : {}),
    };
    log('migrate', 'applying migrations');
    const migrated = await run(process.execPath, ['--import', 'tsx', CLI_TS, 'migrate'], { cwd: REPO, env: { PATH: process.env.PATH, DATABASE_URL: db.url } });
    log('migrate', migrated.stdout.trim());

    const instances: AppInstance[] = [];
    for (let i = 1; i <= count + backups; i++) {
      const name = i <= count ? `web${i}` : `web-backup${i - count}`;
      instances.push(new AppInstance(name, await freePort(), await freePort(), appEnv, log));
    }
    cleanups.push(() => Promise.all(instances.map((i) => i.stop('SIGTERM'))));
    // Start in parallel: each instance's start-up is mostly tsx compiling the app.
    await Promise.all(instances.map((i) => i.start()));

    const config = renderHaproxyConfig(env, {
      kind: 'local',
      instances: instances.map((i, n) => ({ port: i.port, backup: n >= count })),
      port,
      statsPort,
      statsSocket: join(options.workDir, 'admin.sock'),
      healthCheck: options.healthCheck,
    });
    const haproxy = await startHaproxy({ config, workDir: options.workDir, port, statsPort, onLog: (l) => log('haproxy', l) });
    cleanups.push(() => haproxy.stop());
    await waitForPort(port);
    return { url: haproxy.url, haproxy, instances, redis: { url: redis.url }, databaseUrl: db.url, config, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
