/**
 * Throwaway Redis 7 for tests and benchmarks (Debian's `/usr/bin/redis-server`, override with
 * REDIS_SERVER), on 127.0.0.1 and a free port, no persistence, optional `requirepass`. The server
 * is a child process of the test (not daemonized), so it dies with the test run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '@expense-tracker/tools/process/index';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisServer {
  host: string;
  port: number;
  /** `redis://127.0.0.1:<port>` (no credentials: the password is separate, as in the app's env). */
  url: string;
  password?: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after `stop`), e.g. to test recovery. */
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  destroy(): Promise<void>;
}

/** Starts redis-server and resolves when it accepts connections. */
export async function startRedis(opts: { port?: number; password?: string } = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const dir = await mkdtemp(path.join(tmpdir(), 'redis-test-'));
  let child: ChildProcess | undefined;
  let log = '';
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'];
    if (opts.password) args.push('--requirepass', opts.password);
    const c = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout?.on('data', (d) => (log = (log + d).slice(-4000)));
    c.stderr?.on('data', (d) => (log = (log + d).slice(-4000)));
    const exited = new Promise<never>((_, rej) => c.once('exit', (code) => rej(new Error(`redis-server exited (${code}): ${log}`))));
    exited.catch(() => undefined);
    await Promise.race([waitForPort(port, '127.0.0.1', 10_000), exited]);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const done = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await done;
    clearTimeout(t);
  };
  await start();
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    password: opts.password,
    start,
    stop,
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
