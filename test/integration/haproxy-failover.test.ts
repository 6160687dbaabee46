/**
 * Real HAProxy (Debian 2.6) in front of two instances of the real app (app/src/server.ts on
 * real PostgreSQL and Redis), all on loopback, configured by the same renderer as the cluster
 * (`renderHaproxyConfig(env 'local', { kind: 'local' })`, unchanged health check timing:
 * inter 2s fall 3 rise 2).
 *
 * Proves: round-robin spreads requests over both instances; ACL routing sends /api to backend
 * `api` and pages to backend `web`; killing an instance (SIGKILL) during a bounded load loses
 * no client request, the Prometheus exporter reports it DOWN and UP again after a restart; a
 * rolling restart (SIGTERM, drain, restart, one by one) under load loses no client request.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { startLocalTopology, type LocalTopology } from '../../scripts/local/topology.js';
import type { HaproxyMetrics } from '../../scripts/local/haproxy.js';
import { HAPROXY } from '@expense-tracker/model/components';
import { startPostgres, type PostgresServer } from '@expense-tracker/testkit/servers/postgres';

interface Load {
  /** Responses received so far. */
  responses(): number;
  /** Ends a duration-bounded load early. */
  stop(): void;
  readonly result: Promise<autocannon.Result>;
}

/** autocannon against the topology; `amount` bounds the number of requests. */
function startLoad(url: string, options: { amount?: number; duration?: number; connections?: number }): Load {
  let responses = 0;
  let instance!: autocannon.Instance;
  const result = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url,
        connections: options.connections ?? 10,
        amount: options.amount,
        duration: options.duration ?? 600,
        timeout: 10,
        // Pages and static-like routes of the web backend, all idempotent GETs answered 200.
        requests: [{ method: 'GET', path: '/' }, { method: 'GET', path: '/login' }, { method: 'GET', path: '/pricing' }],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
  instance.on('response', () => responses++);
  return { responses: () => responses, stop: () => instance.stop(), result };
}

async function eventually(what: string, timeoutMs: number, probe: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Failed client requests: transport errors, timeouts and any status other than 2xx. */
function failures(r: autocannon.Result): { errors: number; timeouts: number; non2xx: number; statusCodes: Record<string, unknown> } {
  return { errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx, statusCodes: r.statusCodeStats as Record<string, unknown> };
}

describe('HAProxy in front of two real app instances on loopback', () => {
  let topology: LocalTopology;
  let postgres: PostgresServer | undefined;
  let workDir: string;
  const logs: string[] = [];
  const logTail = () => logs.slice(-60).join('\n');

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'haproxy-it-'));
    console.log('haproxy-failover: starting PostgreSQL, Redis, 2 app instances (tsx) and HAProxy…');
    const environment = loadEnvironment('local', { imageTag: 'test' });
    postgres = await startPostgres();
    topology = await startLocalTopology({
      environment,
      instances: 2,
      workDir,
      postgres: { kind: 'external', url: await postgres.createDatabase(environment.postgres.database) },
      log: (source, line) => {
        logs.push(`${source}| ${line}`);
        if (logs.length > 2000) logs.splice(0, 1000);
      },
    });
    console.log(`haproxy-failover: ready at ${topology.url}`);
  }, 240_000);

  afterAll(async () => {
    await topology?.stop();
    await postgres?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, 60_000);

  it('renders static servers for both instances with the environment health check timing', () => {
    const [web1, web2] = topology.instances;
    expect(topology.config).toContain(`server web1 127.0.0.1:${web1.port} check`);
    expect(topology.config).toContain(`server web2 127.0.0.1:${web2.port} check`);
    expect(topology.config).toContain('default-server inter 2s fall 3 rise 2');
  });

  it('spreads requests over both instances (roundrobin)', async () => {
    const before = await topology.haproxy.metrics();
    for (let i = 0; i < 40; i++) {
      const r = await fetch(`${topology.url}/`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/text\/html/);
      await r.arrayBuffer();
    }
    const counted = (m: HaproxyMetrics) => ['web1', 'web2'].map((s) => m.serverResponses('web', s) - before.serverResponses('web', s));
    const after = await topology.haproxy.waitForMetrics('40 responses counted', (m) => counted(m).reduce((a, b) => a + b, 0) >= 40);
    const served = counted(after);
    expect(served[0] + served[1]).toBe(40);
    // roundrobin with equal weights alternates; allow a little slack for nothing in particular.
    expect(Math.min(...served), `web1/web2 served ${served.join('/')}`).toBeGreaterThanOrEqual(18);
  });

  it('routes /api and /api/... to backend api, pages to backend web, answers its own health URI', async () => {
    const before = await topology.haproxy.metrics();
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`${topology.url}/api/expenses`);
      // The app's own API answer (JSON 401 without a session), not an HAProxy error page.
      expect(r.status).toBe(401);
      expect(await r.json()).toMatchObject({ error: 'unauthorized' });
    }
    const mid = await topology.haproxy.waitForMetrics('10 api requests counted', (m) => m.backendRequests('api') - before.backendRequests('api') >= 10);
    expect(mid.backendRequests('api') - before.backendRequests('api')).toBe(10);
    expect(mid.backendRequests('web') - before.backendRequests('web')).toBe(0);

    for (const path of ['/login', '/apiary', '/expenses']) {
      const r = await fetch(`${topology.url}${path}`, { redirect: 'manual' });
      await r.arrayBuffer();
      expect(r.status, path).toBeLessThan(500);
    }
    await (await fetch(`${topology.url}/api`)).arrayBuffer();
    const health = await fetch(`${topology.url}${HAPROXY.monitorUri}`);
    expect(health.status).toBe(200);
    await health.arrayBuffer();
    const after = await topology.haproxy.waitForMetrics('4 more requests counted', (m) => m.backendRequests('web') + m.backendRequests('api') - mid.backendRequests('web') - mid.backendRequests('api') >= 4);
    expect(after.backendRequests('web') - mid.backendRequests('web')).toBe(3);
    expect(after.backendRequests('api') - mid.backendRequests('api')).toBe(1);
  });

  it(
    'an instance killed during a bounded load: zero failed requests, reported DOWN, then UP after restart',
    async () => {
      const [web1] = topology.instances;
      const amount = 5000;
      const load = startLoad(topology.url, { amount });
      await eventually('the load to get going', 30_000, () => load.responses() >= 300);
      const killedAt = load.responses();
      expect(await web1.stop('SIGKILL')).toBe('SIGKILL');
      const result = await load.result;
      console.log(`haproxy-failover: kill: ${killedAt}/${amount} responses before the kill, ${result.requests.average} req/s`);
      expect(killedAt, 'the kill happened during the load').toBeLessThan(amount);
      expect(failures(result), logTail()).toEqual({ errors: 0, timeouts: 0, non2xx: 0, statusCodes: { 200: { count: amount } } });

      for (const backend of ['web', 'api']) await topology.haproxy.waitForServerState(backend, 'web1', 'DOWN', 30_000);
      expect((await topology.haproxy.metrics()).serverState('web', 'web2')).toBe('UP');

      await web1.start();
      for (const backend of ['web', 'api']) await topology.haproxy.waitForServerState(backend, 'web1', 'UP', 30_000);
    },
    180_000,
  );

  it(
    'a rolling restart (SIGTERM, drain, restart, one by one) under load: zero failed requests',
    async () => {
      const load = startLoad(topology.url, { duration: 300 });
      await eventually('the load to get going', 30_000, () => load.responses() >= 200);
      try {
        for (const instance of topology.instances) {
          const before = load.responses();
          // Graceful: readyz fails at once, the listener closes after the app's drain delay.
          expect(await instance.stop('SIGTERM'), `${instance.name} exit code`).toBe(0);
          for (const backend of ['web', 'api']) await topology.haproxy.waitForServerState(backend, instance.name, 'DOWN', 30_000);
          await instance.start();
          for (const backend of ['web', 'api']) await topology.haproxy.waitForServerState(backend, instance.name, 'UP', 30_000);
          expect(load.responses(), `requests kept flowing while ${instance.name} restarted`).toBeGreaterThan(before);
        }
      } finally {
        load.stop();
      }
      const result = await load.result;
      console.log(`haproxy-failover: roll: ${result.requests.total} requests in ${result.duration} s`);
      expect(result.requests.total).toBeGreaterThan(500);
      expect(failures(result), logTail()).toMatchObject({ errors: 0, timeouts: 0, non2xx: 0 });
      expect(Object.keys(result.statusCodeStats ?? {})).toEqual(['200']);
    },
    240_000,
  );
});
