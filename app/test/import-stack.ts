/**
 * Real processes for the large import tests and `bench/import.ts`: PostgreSQL and Redis on
 * loopback (testkit), the web server (`app/src/server.ts`) and import workers
 * (`app/src/imports/worker.ts`) as child processes, so each has its own memory to measure and a
 * worker can be killed with SIGKILL mid-import. Helpers upload a file the way a browser does
 * (one streamed request with a Content-Length) and follow an import to its end.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { PostgresServer, RedisServer } from '@expense-tracker/testkit/servers/index';
import { freePort, waitForPort } from '@expense-tracker/tools/process/index';
import { Cleanups, Client, startDataServers } from './harness.js';

const execFileAsync = promisify(execFile);

const APP = fileURLToPath(new URL('..', import.meta.url));
const ROOT = path.dirname(APP);
const ENTRY = {
  source: { server: path.join(APP, 'src/server.ts'), worker: path.join(APP, 'src/imports/worker.ts') },
  compiled: { server: path.join(APP, 'dist/server.js'), worker: path.join(APP, 'dist/imports/worker.js') },
};

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !/\.(ts|json)$/.test(e.name) || e.name.endsWith('.test.ts')) continue;
    newest = Math.max(newest, (await stat(path.join(e.parentPath, e.name))).mtimeMs);
  }
  return newest;
}

/**
 * Builds `app/dist` (`npm run build -w app`: tsc, the model package included) unless it is newer
 * than every source file, so the processes run the JavaScript the image runs.
 */
export async function ensureAppBuild(log: (msg: string) => void = () => undefined): Promise<void> {
  const built = await stat(ENTRY.compiled.server).then((s) => s.mtimeMs, () => 0);
  const sources = Math.max(await newestMtime(path.join(APP, 'src')), await newestMtime(path.join(ROOT, 'model')));
  if (built > sources && (await stat(ENTRY.compiled.worker).then(() => true, () => false))) return;
  log('building app/dist (npm run build -w app)...');
  const t0 = Date.now();
  await execFileAsync('npm', ['run', 'build', '-w', 'app'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  log(`app/dist built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

/** Peak resident set size of a running process, bytes (`VmHWM` in /proc/<pid>/status). */
export function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * The runtime `ENV` of the app image (app/Dockerfile), which the processes here get too: they run
 * as the container would (e.g. its malloc settings).
 */
export function imageEnv(): Record<string, string> {
  const dockerfile = readFileSync(path.join(APP, 'Dockerfile'), 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const m of runtime.matchAll(/^ENV ((?:.*\\\n)*.*)$/gm)) {
    for (const [, k, v] of m[1]!.replace(/\\\n/g, ' ').matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)) env[k!] = v!;
  }
  return env;
}

export interface AppProcess {
  child: ChildProcess;
  pid: number;
  /** The last lines it printed (for failure messages). */
  output(): string;
  /** Largest peak RSS seen by {@link sample} or at exit, bytes. */
  peakRssBytes: number;
  /** Reads the peak RSS now (call before killing it). */
  sample(): number;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function launch(script: string, env: Record<string, string>, name: string): AppProcess {
  const child = spawn(process.execPath, script.endsWith('.ts') ? ['--import', 'tsx', script] : [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-8000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const p: AppProcess = {
    child,
    pid: child.pid!,
    output: () => `--- ${name} ---\n${out}`,
    peakRssBytes: 0,
    sample() {
      try {
        p.peakRssBytes = Math.max(p.peakRssBytes, peakRss(child.pid!));
      } catch {
        /* exited */
      }
      return p.peakRssBytes;
    },
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      p.sample();
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    },
  };
  return p;
}

export interface ImportStack {
  pg: PostgresServer;
  redis: RedisServer;
  pool: pg.Pool;
  dbUrl: string;
  env: Record<string, string>;
  stagingDir: string;
  web: AppProcess;
  baseUrl: string;
  startWorker(extra?: Record<string, string>): Promise<AppProcess>;
  stop(): Promise<void>;
}

/**
 * Starts PostgreSQL, Redis, migrates, and the web server; workers are started on demand.
 * `compiled`: run `app/dist` (see {@link ensureAppBuild}) instead of the TypeScript sources.
 */
export async function startImportStack(opts: { env?: Record<string, string>; logLevel?: string; compiled?: boolean } = {}): Promise<ImportStack> {
  const entry = opts.compiled ? ENTRY.compiled : ENTRY.source;
  const cleanups = new Cleanups();
  const stop = cleanups.run;
  try {
    const { pg: pgServer, redis, dbUrl } = await startDataServers(cleanups, 'import-redis-password');
    const pool = new pg.Pool({ connectionString: dbUrl, max: 4 });
    cleanups.push(() => pool.end());
    const stagingDir = await mkdtemp(path.join(tmpdir(), 'import-staging-'));
    cleanups.push(() => rm(stagingDir, { recursive: true, force: true }));
    const port = await freePort();
    const env: Record<string, string> = {
      ...imageEnv(),
      PORT: String(port),
      DATABASE_URL: dbUrl,
      REDIS_URL: redis.url,
      REDIS_PASSWORD: 'import-redis-password',
      SESSION_SECRET: 'import-test-session-secret-0123456789',
      SENDGRID_API_KEY: 'SG.test',
      SENDGRID_API_URL: 'http://127.0.0.1:9',
      MAIL_FROM: 'alerts@expense.test',
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      LOG_LEVEL: opts.logLevel ?? 'warn',
      IMPORT_STAGING_DIR: stagingDir,
      ...opts.env,
    };
    const web = launch(entry.server, env, 'web');
    cleanups.push(() => web.stop());
    await Promise.race([
      waitForPort(port, '127.0.0.1', 60_000),
      web.exited.then((code) => Promise.reject(new Error(`web exited (${code})\n${web.output()}`))),
    ]);
    const workers: AppProcess[] = [];
    cleanups.push(async () => {
      for (const w of workers) await w.stop('SIGKILL');
    });
    return {
      pg: pgServer,
      redis,
      pool,
      dbUrl,
      env,
      stagingDir,
      web,
      baseUrl: `http://127.0.0.1:${port}`,
      async startWorker(extra = {}) {
        const workerPort = await freePort();
        const w = launch(entry.worker, { ...env, IMPORT_WORKER_PORT: String(workerPort), ...extra }, `worker ${workers.length + 1}`);
        workers.push(w);
        await Promise.race([
          waitForPort(workerPort, '127.0.0.1', 60_000),
          w.exited.then((code) => Promise.reject(new Error(`worker exited (${code})\n${w.output()}`))),
        ]);
        return w;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Uploads `file` to `POST /api/imports` as one streamed request; `onProgress(bytesSent)`. */
export async function uploadFile(
  client: Client,
  file: string,
  query: Record<string, string | readonly string[]>,
  onProgress?: (sent: number, total: number) => void,
): Promise<{ status: number; json: any }> {
  const size = (await stat(file)).size;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const x of typeof v === 'string' ? [v] : v) q.append(k, x);
  const headers: Record<string, string> = {
    'content-type': 'text/csv',
    'content-length': String(size),
    cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
  };
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(`/api/imports?${q}`, client.baseUrl), { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode ?? 0, json: text });
        }
      });
    });
    req.on('error', reject);
    let sent = 0;
    const src = createReadStream(file, { highWaterMark: 1 << 20 });
    src.on('data', (c) => {
      sent += c.length;
      onProgress?.(sent, size);
    });
    src.pipe(req);
  });
}

/** Polls the import until it is done or failed (every `intervalMs`), reporting each state. */
export async function followImport(
  client: Client,
  id: string,
  opts: { intervalMs?: number; timeoutMs?: number; onState?: (imp: any) => void } = {},
): Promise<any> {
  const deadline = Date.now() + (opts.timeoutMs ?? 3_600_000);
  for (;;) {
    const r = await client.get(`/api/imports/${id}`);
    if (r.status !== 200) throw new Error(`GET /api/imports/${id}: ${r.status} ${r.text}`);
    opts.onState?.(r.json);
    if (r.json.state === 'done' || r.json.state === 'failed') return r.json;
    if (Date.now() > deadline) throw new Error(`import ${id} still ${r.json.state} after ${opts.timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, opts.intervalMs ?? 2_000));
  }
}

/** `12.3 MiB`-style byte counts for progress lines. */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
