/**
 * Failure behaviour: Redis going away and coming back, and SIGTERM while a request is in flight
 * (the real server entry point in a child process).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@expense-tracker/testkit/servers/index';
import { sign } from '@fastify/cookie';
import { Client, eventually, expense, SESSION_SECRET, startStack, type Stack } from './harness.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('Redis outage', () => {
  it('keeps serving uncached, refuses new logins with 503, and recovers when Redis returns', async () => {
    const user = new Client(stack.baseUrl);
    await user.signUp('outage@example.com');
    await user.request('POST', '/api/expenses', { json: expense({ amountCents: 1000, date: '2026-02-01' }) });
    expect((await user.get('/api/summary?month=2026-02')).json.totalCents).toBe(1000);
    const other = new Client(stack.baseUrl);
    await other.register('later@example.com');
    const loginToken = await other.csrf('/login');

    await stack.redis.stop();
    await eventually('readyz reports redis down', async () => (await user.get('/readyz')).status === 503);
    expect((await user.get('/readyz')).json).toEqual({ status: 'not_ready', postgres: true, redis: false });

    // public pages and the logged-in user keep working, uncached
    expect((await new Client(stack.baseUrl).get('/')).status).toBe(200);
    expect((await user.get('/dashboard?month=2026-02')).status).toBe(200);
    const created = await user.request('POST', '/api/expenses', { json: expense({ amountCents: 234, date: '2026-02-02' }) });
    expect(created.status).toBe(201);
    expect((await user.get('/api/summary?month=2026-02')).json.totalCents).toBe(1234);
    const metrics = await user.get('/metrics');
    expect(metrics.text).toMatch(/summary_cache_requests_total\{result="bypass"\} [1-9]/);

    // new logins get a clear 503
    const login = await other.request('POST', '/login', { form: { email: 'later@example.com', password: 'correct horse battery', _csrf: loginToken } });
    expect(login.status).toBe(503);
    expect(login.text).toContain('Sign-in is temporarily unavailable');
    // a validly signed session this replica has not seen cannot be checked: 503, not a wrong 401
    const stranger = new Client(stack.baseUrl);
    stranger.cookies.set('sid', encodeURIComponent(sign('session-from-another-replica', SESSION_SECRET)));
    const api = await stranger.get('/api/expenses');
    expect(api.status).toBe(503);
    expect(api.json).toMatchObject({ error: 'sessions_unavailable' });
    const pageRes = await stranger.get('/dashboard');
    expect(pageRes.status).toBe(503);
    expect(pageRes.text).toContain('temporarily unavailable');
    // a cookie with a bad signature is simply anonymous (no lookup needed)
    const forged = new Client(stack.baseUrl);
    forged.cookies.set('sid', 'forged.signature');
    expect((await forged.get('/api/expenses')).status).toBe(401);

    await stack.redis.start();
    await eventually('readyz recovers', async () => (await user.get('/readyz')).status === 200, 15_000);
    // the outage restart lost the test Redis's data (no persistence): log in again
    await other.signUp('again@example.com');
    expect((await other.get('/dashboard')).status).toBe(200);
    await other.request('POST', '/api/expenses', { json: expense({ amountCents: 500, date: '2026-02-03' }) });
    await other.get('/api/summary?month=2026-02');
    const hit = await other.get('/api/summary?month=2026-02');
    expect(hit.json.totalCents).toBe(500);
    const after = await user.get('/metrics');
    expect(after.text).toMatch(/summary_cache_requests_total\{result="hit"\} [1-9]/);
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM: readyz turns 503, the in-flight request finishes, the process exits 0', async () => {
    const port = await freePort();
    const serverTs = fileURLToPath(new URL('../src/server.ts', import.meta.url));
    // Every secret from a mounted file (<NAME>_FILE), as the chart's Secret volumes deliver them.
    const secrets = await mkdtemp(path.join(tmpdir(), 'app-secrets-'));
    const fileEnv: Record<string, string> = {};
    for (const key of ['SESSION_SECRET', 'REDIS_PASSWORD', 'SENDGRID_API_KEY'] as const) {
      await writeFile(path.join(secrets, key), `${stack.env[key]}\n`, { mode: 0o600 });
      fileEnv[key] = '';
      fileEnv[`${key}_FILE`] = path.join(secrets, key);
    }
    const child = spawn(process.execPath, ['--import', 'tsx', serverTs], {
      env: { ...process.env, ...stack.env, ...fileEnv, PORT: String(port), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const locker = new pg.Client({ connectionString: stack.dbUrl });
    try {
      const base = `http://127.0.0.1:${port}`;
      await eventually('child server ready', async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 30_000);
      const c = new Client(base);
      await c.signUp('slow@example.com');

      // Make the next insert slow: hold an exclusive lock on the table it writes.
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE expenses IN ACCESS EXCLUSIVE MODE');
      const slow = c.request('POST', '/api/expenses', { json: expense({ amountCents: 777, date: '2026-01-05' }) });
      await eventually('insert waits on the lock', async () => {
        const r = await locker.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'expense-tracker' AND wait_event_type = 'Lock'`,
        );
        return r.rows[0].n > 0;
      });

      child.kill('SIGTERM');
      await eventually('readyz turns 503', async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 503, 5_000);
      await locker.query('COMMIT');

      const res = await slow;
      expect(res.status).toBe(201);
      expect(res.json).toMatchObject({ amountCents: 777 });
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 25_000))]);
      expect(code, output).toBe(0);
      expect(output).toContain('shutdown complete');
      const row = await stack.pool.query('SELECT amount_cents::int AS a FROM expenses WHERE id = $1', [res.json.id]);
      expect(row.rows).toEqual([{ a: 777 }]);
      await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    } finally {
      await locker.end().catch(() => undefined);
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(secrets, { recursive: true, force: true });
    }
  });

  it('a missing or invalid variable stops the process with a message naming it', async () => {
    const serverTs = fileURLToPath(new URL('../src/server.ts', import.meta.url));
    const run = (env: Record<string, string | undefined>) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', serverTs], { env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv });
        let out = '';
        p.stderr.on('data', (d) => (out += d));
        p.once('exit', (code) => resolve({ code, out }));
      });
    const { SESSION_SECRET: _s, ...withoutSecret } = stack.env;
    const r1 = await run(withoutSecret);
    expect(r1.code).toBe(2);
    expect(r1.out).toContain('SESSION_SECRET: is required');
    const r2 = await run({ ...stack.env, REDIS_URL: 'redis://:pw@127.0.0.1:6379', PORT: 'eighty' });
    expect(r2.code).toBe(2);
    expect(r2.out).toContain('REDIS_URL: must be redis://host:port[/db] without credentials');
    expect(r2.out).toContain('PORT:');
  });
});
