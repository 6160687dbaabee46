/**
 * The readiness contract seen from the load balancer: real HAProxy (Debian 2.6, the config the
 * model renders for `local`, its health check on READY_PATH) in front of two instances of the
 * real app, on real PostgreSQL and Redis that are stopped and started again.
 *
 * Proves: with Redis stopped both replicas stay UP in every backend and users log in and work
 * through HAProxy; with PostgreSQL stopped both stay UP, and the client gets the app's own 503
 * page with `Retry-After` (after HAProxy's `retry-on 503` has tried the other replica), never
 * HAProxy's error page; everything recovers without a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '@expense-tracker/model/app-contract';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { startPostgres, startRedis, type PostgresServer, type RedisServer } from '@expense-tracker/testkit/servers/index';
import { startLocalTopology, type LocalTopology } from '../../scripts/local/topology.js';
import { Client, eventually, expense } from './harness.js';

/** Health check timing of this test: a failing readiness would mark a server DOWN after 2 s. */
const CHECK = { intervalSeconds: 1, fall: 2, rise: 1 };
const BACKENDS = ['web', 'api'];

let topology: LocalTopology | undefined;
let postgres: PostgresServer | undefined;
let redis: RedisServer | undefined;
let workDir: string | undefined;
const logs: string[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'haproxy-outage-'));
  const environment = loadEnvironment('local', { imageTag: 'test' });
  postgres = await startPostgres();
  redis = await startRedis({ password: 'outage-test-password' });
  topology = await startLocalTopology({
    environment,
    instances: 2,
    workDir,
    postgres: { kind: 'external', url: await postgres.createDatabase(environment.postgres.database) },
    redis: { url: redis.url, password: redis.password },
    healthCheck: CHECK,
    log: (source, line) => {
      logs.push(`${source}| ${line}`);
      if (logs.length > 2000) logs.splice(0, 1000);
    },
  });
}, 240_000);

afterAll(async () => {
  await topology?.stop();
  await redis?.destroy();
  await postgres?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 60_000);

/** True when every app instance's own /readyz (not through HAProxy) reports `dependency` as `state`. */
async function everyReplicaReports(dependency: 'postgres' | 'redis', state: 'up' | 'down'): Promise<boolean> {
  const answers = await Promise.all(topology!.instances.map((i) => fetch(`http://127.0.0.1:${i.port}/readyz`).then((r) => r.json() as Promise<Record<string, string>>)));
  return answers.every((a) => a[dependency] === state);
}

/** Waits longer than `fall` failed checks would take, then asserts every server of every backend is UP. */
async function expectAllUpAfterChecks(): Promise<void> {
  await new Promise((r) => setTimeout(r, (CHECK.fall + 1) * CHECK.intervalSeconds * 1000 + 500));
  const metrics = await topology!.haproxy.metrics();
  for (const backend of BACKENDS) {
    for (const server of ['web1', 'web2']) expect(metrics.serverState(backend, server), `${backend}/${server}\n${logs.slice(-30).join('\n')}`).toBe('UP');
  }
}

describe('HAProxy keeps every replica in rotation while a dependency is down', () => {
  it('Redis stopped: both replicas stay UP, users log in and work through HAProxy; Redis back empty loses nothing', async () => {
    const user = new Client(topology!.url);
    await user.signUp('lb-redis@example.com');
    expect((await user.request('POST', '/api/expenses', { json: expense({ amountCents: 700, date: '2026-02-03' }) })).status).toBe(201);
    const later = new Client(topology!.url);
    expect((await later.register('lb-later@example.com')).status).toBe(303);

    await redis!.stop();
    try {
      await eventually('both replicas report redis down', () => everyReplicaReports('redis', 'down'));
      await expectAllUpAfterChecks();
      for (let i = 0; i < 4; i++) {
        // both replicas (roundrobin) serve the logged-in user and take writes
        expect((await user.get('/dashboard?month=2026-02')).status).toBe(200);
        expect((await user.request('POST', '/api/expenses', { json: expense({ amountCents: 100, date: '2026-02-04' }) })).status).toBe(201);
      }
      expect((await user.get('/api/summary?month=2026-02')).json.totalCents).toBe(1100);
      expect((await later.login('lb-later@example.com')).status).toBe(303);
      expect((await later.get('/api/expenses')).status).toBe(200);
    } finally {
      await redis!.start();
    }
    await eventually('readyz ready again', async () => (await user.get('/readyz')).json?.status === 'ready', 20_000);
    expect((await user.get('/dashboard')).status).toBe(200);
    expect((await later.get('/dashboard')).status).toBe(200);
  });

  it('PostgreSQL stopped: both replicas stay UP, clients get the app\'s 503 page with Retry-After through HAProxy, and it recovers', async () => {
    const user = new Client(topology!.url);
    await user.signUp('lb-postgres@example.com');
    expect((await user.request('POST', '/api/expenses', { json: expense({ amountCents: 4321, date: '2026-02-10' }) })).status).toBe(201);
    const before = await topology!.haproxy.metrics();

    await postgres!.pause();
    try {
      await eventually('both replicas report postgres down', () => everyReplicaReports('postgres', 'down'));
      await expectAllUpAfterChecks();

      for (const path of ['/', '/pricing', '/login', '/register']) expect((await new Client(topology!.url).get(path)).status, path).toBe(200);
      const page = await user.get('/dashboard');
      expect(page.status).toBe(503);
      expect(page.headers.get('retry-after')).toBe(String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      expect(page.text).toContain('Back in a moment'); // the app's page, not HAProxy's
      const api = await user.get('/api/expenses');
      expect(api.status).toBe(503);
      expect(api.headers.get('retry-after')).toBe(String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      expect(api.json).toMatchObject({ error: 'database_unavailable' });
      const write = await user.request('POST', '/api/expenses', { json: expense() });
      expect(write.status).toBe(503);
      expect(write.json).toMatchObject({ error: 'database_unavailable' });

      // the idempotent GETs were retried on the other replica (retry-on 503) before the 503 was passed on
      const after = await topology!.haproxy.metrics();
      const retries = ['web', 'api'].reduce((n, b) => n + after.sum('haproxy_backend_retry_warnings_total', { proxy: b }) - before.sum('haproxy_backend_retry_warnings_total', { proxy: b }), 0);
      expect(retries).toBeGreaterThan(0);
    } finally {
      await postgres!.resume();
    }
    await eventually('dashboard back through HAProxy', async () => (await user.get('/dashboard?month=2026-02')).status === 200, 20_000);
    expect((await user.get('/api/summary?month=2026-02')).json.totalCents).toBe(4321);
    await expectAllUpAfterChecks();
  });
});
