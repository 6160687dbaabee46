/**
 * Overload against outage, on the real PostgreSQL: a request that finds every pool connection busy
 * for the whole wait (overload) answers 503 `server_busy` with its own Retry-After and message and
 * counts as `busy`, while PostgreSQL stays reported up; a wait that times out because connections
 * to PostgreSQL cannot be opened stays "database unavailable".
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSY_RETRY_AFTER_SECONDS, READY_STATUS } from '@expense-tracker/model/app-contract';
import { AppPool, DatabaseBusyError, isDatabaseBusy, isDatabaseUnavailable } from '../src/db.js';
import { Client, eventually, expense, startStack, type Stack } from './harness.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

/** The value of one sample of the /metrics listener, e.g. `app_dependency_up{dependency="postgres"}`. */
const metric = async (sample: string): Promise<number> => {
  const text = (await new Client(stack.metricsUrl).get('/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
  return line ? Number(line.slice(sample.length + 1)) : NaN;
};

describe('pool exhausted (overload) is not "database unavailable"', () => {
  it('answers 503 server_busy with Retry-After, reports PostgreSQL up and the pool exhausted, and recovers when the load passes', async () => {
    const user = new Client(stack.baseUrl);
    await user.signUp('busy@example.com');
    expect((await user.request('POST', '/api/expenses', { json: expense({ amountCents: 700, date: '2026-02-03' }) })).status).toBe(201);
    const max = stack.pool.options.max!;
    const busyBefore = await metric('pg_pool_acquire_timeouts_total{cause="busy"}');

    // Every session lookup now waits for a lock another connection holds, as queries pile up behind
    // a slow one under load: the first `max` requests take every pool connection, the rest queue.
    const locker = new pg.Client({ connectionString: stack.dbUrl });
    await locker.connect();
    let held = true;
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const requests = Array.from({ length: max + 4 }, () => user.get('/api/expenses'));
      await eventually('every request arrived: max hold a connection, 4 queue for one', () => stack.pool.waitingCount >= 4);

      // readiness does not queue behind the requests: still 200, PostgreSQL up, the pool exhausted
      // (once the result cached for a second by the last check has expired)
      const probe = new Client(stack.baseUrl);
      await eventually('readyz reports the pool exhausted', async () => (await probe.get('/readyz')).json?.pool === 'exhausted', 3_000);
      const ready = await probe.get('/readyz');
      expect(ready.status).toBe(READY_STATUS);
      expect(ready.json).toEqual({ status: 'busy', postgres: 'up', redis: 'up', pool: 'exhausted' });

      // a page that needs the user's session queues too
      const page = await user.get('/dashboard');
      expect(page.status).toBe(503);
      expect(page.headers.get('retry-after')).toBe(String(BUSY_RETRY_AFTER_SECONDS));
      expect(page.text).toContain('more requests than we can');
      expect(page.text).not.toContain('database is unreachable');
      await eventually('the queued API requests gave up', async () => (await metric('pg_pool_acquire_timeouts_total{cause="busy"}')) >= busyBefore + 5, 8_000);
      expect(Date.now() - started).toBeLessThan(9_000); // the pool's wait (5 s), before the statement timeout (10 s)
      expect(await metric('pg_pool_acquire_timeouts_total{cause="unavailable"}')).toBe(0);
      expect(await metric('app_dependency_up{dependency="postgres"}')).toBe(1);

      // the load passes: the requests holding connections finish normally
      await locker.query('ROLLBACK');
      held = false;
      const answers = await Promise.all(requests);
      const busy = answers.filter((r) => r.status === 503);
      expect(answers.filter((r) => r.status === 200)).toHaveLength(max);
      expect(busy).toHaveLength(4);
      for (const res of busy) {
        expect(res.headers.get('retry-after')).toBe(String(BUSY_RETRY_AFTER_SECONDS));
        expect(res.json).toMatchObject({ error: 'server_busy' });
        expect(res.json.message).not.toMatch(/unreachable/);
      }
    } finally {
      if (held) await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
    expect((await user.get('/api/summary?month=2026-02')).json.totalCents).toBe(700);
    expect((await user.get('/dashboard?month=2026-02')).status).toBe(200);
    await eventually('readyz ready again', async () => (await user.get('/readyz')).json?.status === 'ready', 15_000);
  });

  it('a statement timeout is busy, not unavailable', async () => {
    const pool = new pg.Pool({ connectionString: stack.dbUrl, max: 1, statement_timeout: 50 });
    try {
      const err = await pool.query('SELECT pg_sleep(1)').catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('57014');
      expect(isDatabaseBusy(err)).toBe(true);
      expect(isDatabaseUnavailable(err)).toBe(false);
    } finally {
      await pool.end();
    }
  });
});

describe('AppPool: an acquire timeout means busy only while PostgreSQL answers', () => {
  it('busy: every connection checked out, PostgreSQL answering', async () => {
    const pool = new AppPool({ connectionString: stack.dbUrl, max: 1, connectionTimeoutMillis: 300 });
    const causes: string[] = [];
    pool.on('acquireTimeout' as 'error', (cause: unknown) => causes.push(String(cause)));
    try {
      const holder = await pool.connect();
      const err = await pool.query('SELECT 1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseBusyError);
      expect(isDatabaseUnavailable(err)).toBe(false);
      expect(causes).toEqual(['busy']);
      expect(pool.exhausted(10_000)).toBe(true);
      holder.release();
      expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('unavailable: the connection being opened hangs (no answer) and times out', async () => {
    // A listener that accepts and never answers, like a PostgreSQL behind a network partition.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    const pool = new AppPool({ host: '127.0.0.1', port, user: 'nobody', database: 'none', max: 1, connectionTimeoutMillis: 400 });
    const causes: string[] = [];
    pool.on('acquireTimeout' as 'error', (cause: unknown) => causes.push(String(cause)));
    try {
      const first = pool.query('SELECT 1').catch((e: unknown) => e); // opens the only connection, which hangs
      await new Promise((r) => setTimeout(r, 150));
      const queued = pool.query('SELECT 1').catch((e: unknown) => e); // waits for it
      const firstErr = await first;
      expect(String(firstErr)).toMatch(/connection timeout/);
      expect(isDatabaseUnavailable(firstErr)).toBe(true);
      const queuedErr = await queued;
      expect(queuedErr).not.toBeInstanceOf(DatabaseBusyError);
      expect(isDatabaseUnavailable(queuedErr)).toBe(true);
      expect(causes).toEqual(['unavailable']);
      expect(pool.lastConnect).toBe('failed');
    } finally {
      await pool.end().catch(() => undefined);
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
