/**
 * Failure behaviour: Redis and PostgreSQL going away and coming back (the real servers stopped
 * and restarted), and SIGTERM while a request is in flight (the real server entry point in a
 * child process).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@expense-tracker/testkit/servers/index';
import { Client, eventually, expense, startStack, type Stack } from './harness.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ throttle: { loginPerAccountAddress: { points: 3, seconds: 600 } } });
});
afterAll(async () => {
  await stack?.stop();
});

describe('Redis outage (Redis is a cache)', () => {
  it('keeps every page working, logs in, throttles per replica, reports degraded readiness, and keeps sessions across a Redis restart', async () => {
    const user = new Client(stack.baseUrl);
    await user.signUp('outage@example.com');
    await user.request('POST', '/api/expenses', { json: expense({ amountCents: 1000, date: '2026-02-01' }) });
    expect((await user.get('/api/summary?month=2026-02')).json.totalCents).toBe(1000);
    const other = new Client(stack.baseUrl);
    await other.register('later@example.com');

    await stack.redis.stop();
    await eventually('readyz reports redis down', async () => (await user.get('/readyz')).json?.redis === 'down');
    const ready = await user.get('/readyz');
    expect(ready.status).toBe(200); // still in rotation
    expect(ready.json).toEqual({ status: 'degraded', postgres: 'up', redis: 'down', pool: 'ok' });
    expect((await new Client(stack.metricsUrl).get('/metrics')).text).toMatch(/app_dependency_up\{dependency="redis"\} 0/);

    // public pages, the logged-in user and writes keep working, uncached
    expect((await new Client(stack.baseUrl).get('/')).status).toBe(200);
    expect((await user.get('/dashboard?month=2026-02')).status).toBe(200);
    const created = await user.request('POST', '/api/expenses', { json: expense({ amountCents: 234, date: '2026-02-02' }) });
    expect(created.status).toBe(201);
    expect((await user.get('/api/summary?month=2026-02')).json.totalCents).toBe(1234);
    expect((await new Client(stack.metricsUrl).get('/metrics')).text).toMatch(/summary_cache_requests_total\{result="bypass"\} [1-9]/);

    // new logins work, and throttling falls back to this replica's memory instead of vanishing
    expect((await other.login('later@example.com')).status).toBe(303);
    expect((await other.get('/dashboard')).status).toBe(200);
    const guesser = new Client(stack.baseUrl, '198.51.100.7');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await guesser.login('later@example.com', 'not the password')).status);
    expect(statuses).toEqual([401, 401, 401, 429]);

    // a Redis that comes back empty (no persistence) loses no session: they live in PostgreSQL
    await stack.redis.start();
    await eventually('readyz ready again', async () => (await user.get('/readyz')).json?.status === 'ready', 15_000);
    expect((await user.get('/dashboard')).status).toBe(200);
    expect((await other.get('/api/expenses')).status).toBe(200);
    await user.get('/api/summary?month=2026-02');
    const hit = await user.get('/api/summary?month=2026-02');
    expect(hit.json.totalCents).toBe(1234);
    expect((await new Client(stack.metricsUrl).get('/metrics')).text).toMatch(/summary_cache_requests_total\{result="hit"\} [1-9]/);
  });
});

describe('PostgreSQL outage', () => {
  it('answers 503 with Retry-After and a friendly page, keeps database-free pages, and recovers by itself', async () => {
    const user = new Client(stack.baseUrl);
    await user.signUp('dbdown@example.com');
    await user.request('POST', '/api/expenses', { json: expense({ amountCents: 4321, date: '2026-02-10' }) });
    const anon = new Client(stack.baseUrl);
    const loginToken = await anon.csrf('/login');

    await stack.pg.pause();
    try {
      await eventually('readyz reports postgres down', async () => (await user.get('/readyz')).json?.postgres === 'down');
      const ready = await user.get('/readyz');
      expect(ready.status).toBe(200); // every replica keeps answering its own 503 page
      expect(ready.json).toEqual({ status: 'degraded', postgres: 'down', redis: 'up', pool: 'ok' });
      expect((await user.get('/healthz')).status).toBe(200);
      expect((await new Client(stack.metricsUrl).get('/metrics')).text).toMatch(/app_dependency_up\{dependency="postgres"\} 0/);

      // pages that need no database keep working, for anonymous visitors and (as anonymous, with a notice) for users
      for (const path of ['/', '/pricing', '/login', '/register', '/password/forgot', '/static/app.css', '/static/app.js']) {
        expect((await new Client(stack.baseUrl).get(path)).status, path).toBe(200);
      }
      const home = await user.get('/');
      expect(home.status).toBe(200);
      expect(home.text).toContain('data-testid="degraded"');

      // pages and API that need it: 503, Retry-After, a friendly message, never a 500
      const dash = await user.get('/dashboard');
      expect(dash.status).toBe(503);
      expect(dash.headers.get('retry-after')).toBe('5');
      expect(dash.text).toContain('Back in a moment');
      expect(dash.text).toContain('database is unreachable');
      const api = await user.get('/api/expenses');
      expect(api.status).toBe(503);
      expect(api.headers.get('retry-after')).toBe('5');
      expect(api.json).toMatchObject({ error: 'database_unavailable' });
      const write = await user.request('POST', '/api/expenses', { json: expense() });
      expect(write.status).toBe(503);
      const login = await anon.request('POST', '/login', { form: { email: 'dbdown@example.com', password: 'correct horse battery', _csrf: loginToken } });
      expect(login.status).toBe(503);
      expect(login.headers.get('retry-after')).toBe('5');
      const newcomer = new Client(stack.baseUrl);
      const reg = await newcomer.submit('/register', '/register', { email: 'newcomer@example.com', password: 'correct horse battery' });
      expect(reg.status).toBe(503);
      expect(reg.text).toContain('Back in a moment');
      const metrics = await new Client(stack.metricsUrl).get('/metrics');
      expect(metrics.text).not.toMatch(/status_code="500"/);
    } finally {
      await stack.pg.resume();
    }
    // automatic recovery: the same session works again without a restart or a new login
    await eventually('dashboard back', async () => (await user.get('/dashboard?month=2026-02')).status === 200, 15_000);
    expect((await user.get('/api/summary?month=2026-02')).json.totalCents).toBe(4321);
    await eventually('readyz ready again', async () => (await user.get('/readyz')).json?.status === 'ready');
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
      env: { ...process.env, ...stack.env, ...fileEnv, HOST: '127.0.0.1', PORT: String(port), METRICS_PORT: String(await freePort()), LOG_LEVEL: 'info' },
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
    const r2 = await run({ ...stack.env, REDIS_URL: 'redis://:pw@127.0.0.1:6379', PORT: 'eighty', HOST: 'not a host!' });
    expect(r2.code).toBe(2);
    expect(r2.out).toContain('REDIS_URL: must be redis://host:port[/db] without credentials');
    expect(r2.out).toContain('PORT:');
    expect(r2.out).toContain('HOST: must be an IP address or host name');
    const r3 = await run({ ...stack.env, PORT: '9000', METRICS_PORT: '9000' });
    expect(r3.code).toBe(2);
    expect(r3.out).toContain('METRICS_PORT: must differ from PORT (9000)');
  });
});
