/**
 * The compose file `npm run synth` writes (dist/local/compose/) on the private engine with
 * Debian's docker-compose 1.29: it comes up healthy, the app answers through HAProxy, killing one
 * web replica under load fails no client request, and `down` + `up` keeps the Postgres data.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { buildAppImage } from '@expense-tracker/tools/docker-engine/images';
import { COMPOSE_DIR, SERVICES } from '../../charts/docker-compose.js';
import { composeProject, type ComposeProject } from './support/compose.js';
import { d, eventually, setupEngine, teardownEngine, type TestEngine } from './support/docker.js';
import { logIn, registerAddExpenseDashboard, type PageClient } from './support/http.js';
import { synthesize } from './support/manifests.js';
import { formatImageReference } from '@expense-tracker/model/images';

const local = loadEnvironment('local');
/** Compose projects of this suite are `etkc<pid>`; leftovers of killed runs are removed by PID. */
const PROJECT_PREFIX = 'etkc';

let engine: TestEngine;
let project: ComposeProject;
let baseUrl: string;
const email = () => `compose-${engine.run}@example.com`;
const compose = (args: readonly string[]) => project.compose(args);

/** Per-server 2xx response counters of HAProxy's `web` backend (Prometheus exporter). */
async function webServerResponses(): Promise<Map<string, number>> {
  const m = await project.haproxyMetrics();
  const counts = new Map<string, number>();
  for (const x of m.samples) {
    if (x.name === 'haproxy_server_http_responses_total' && x.labels.proxy === 'web' && x.labels.code === '2xx') counts.set(x.labels.server!, x.value);
  }
  return counts;
}

/** Number of servers of HAProxy's `web` backend in state UP. */
async function upWebServers(): Promise<number> {
  return (await project.haproxyMetrics()).serversInState('web', 'UP').length;
}

beforeAll(async () => {
  engine = await setupEngine();
  await buildAppImage(formatImageReference(local.image));
  // Exactly what `npm run synth` writes.
  const dist = await synthesize('local', join(engine.scratch, 'dist'));
  project = await composeProject(engine, { prefix: PROJECT_PREFIX, file: join(dist, COMPOSE_DIR, 'docker-compose.yml'), bridgeTag: 'c' });
  ({ baseUrl } = project);
});
afterAll(async () => {
  try {
    await project?.down();
  } finally {
    await teardownEngine(engine);
  }
});

describe('generated docker-compose topology', () => {
  it('is a valid compose file for docker-compose 1.29', async () => {
    const r = await compose(['config', '--quiet']);
    expect(r.exitCode, String(r.all)).toBe(0);
  });

  it(`comes up healthy: web x ${local.web.replicas} behind HAProxy, migrations applied`, async () => {
    const began = Date.now();
    const up = await compose(['up', '--detach']);
    expect(up.exitCode, String(up.all)).toBe(0);
    await eventually('the app ready through HAProxy', async () => (await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(5000) })).status === 200, 60, async () => String((await compose(['logs', '--tail', '20'])).all));
    console.log(`docker-compose up to ready through HAProxy: ${((Date.now() - began) / 1000).toFixed(1)} s`);
    // Every replica found through Docker's DNS and passing HAProxy's health checks.
    await eventually(`${local.web.replicas} web servers UP in HAProxy`, async () => (await upWebServers()) === local.web.replicas, 60);
    const ps = await d(['ps', '--filter', `label=com.docker.compose.project=${project.name}`, '--filter', `label=com.docker.compose.service=${SERVICES.web}`, '--format', '{{.Status}}']);
    const statuses = ps.stdout.split('\n').filter(Boolean);
    expect(statuses).toHaveLength(local.web.replicas);
    const migrate = await d(['ps', '-a', '--filter', `label=com.docker.compose.project=${project.name}`, '--filter', `label=com.docker.compose.service=${SERVICES.migrate}`, '--format', '{{.Status}}']);
    expect(migrate.stdout.trim()).toMatch(/^Exited \(0\)/);
  });

  let client: PageClient;
  it('serves register → add expense → dashboard through HAProxy, spread over the replicas', async () => {
    const r = await registerAddExpenseDashboard(baseUrl, email(), { amount: '19.99', category: 'Books', description: 'kept across restarts', date: '2026-04-02' });
    expect(r.html).toMatch(/data-testid="month-total">\$19\.99</);
    client = r.client;
    for (let i = 0; i < 20; i++) expect((await client.get('/dashboard?month=2026-04')).status).toBe(200);
    const served = [...(await webServerResponses()).values()].filter((n) => n > 0);
    expect(served.length).toBe(local.web.replicas);
  });

  it('kill one web container during a bounded load → zero failed client requests', async () => {
    const ids = await project.containers(SERVICES.web);
    expect(ids.length).toBe(local.web.replicas);
    const startState = (await d(['inspect', '--format', '{{.State.Running}} {{.State.StartedAt}} {{.RestartCount}}', ids[0]!])).stdout.trim();
    const total = 600;
    const concurrency = 8;
    const killAfter = 150;
    let started = 0;
    let completed = 0;
    const failures: string[] = [];
    let killed: Promise<unknown> | undefined;
    const worker = async () => {
      while (started < total) {
        const i = started++;
        const path = i % 2 === 0 ? '/dashboard?month=2026-04' : '/';
        try {
          const res = await client.get(path);
          if (res.status !== 200) failures.push(`${path}: HTTP ${res.status}`);
        } catch (err) {
          failures.push(`${path}: ${String(err)}`);
        }
        completed++;
        if (completed === killAfter) killed = d(['kill', ids[0]!]);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await killed;
    expect(failures).toEqual([]);
    expect(completed).toBe(total);
    // The kill really happened (the container exited, or its restart policy started it again).
    const state = (await d(['inspect', '--format', '{{.State.Running}} {{.State.StartedAt}} {{.RestartCount}}', ids[0]!])).stdout.trim();
    expect(state).not.toBe(startState);
  });

  it('keeps the Postgres data across docker-compose down and up', async () => {
    const down = await compose(['down', '--timeout', '20']);
    expect(down.exitCode, String(down.all)).toBe(0);
    expect((await d(['ps', '-a', '--quiet', '--filter', `label=com.docker.compose.project=${project.name}`])).stdout.trim()).toBe('');
    const up = await compose(['up', '--detach']);
    expect(up.exitCode, String(up.all)).toBe(0);
    await eventually('the app ready again', async () => (await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(5000) })).status === 200, 60);
    const again = await logIn(baseUrl, email());
    const dash = await again.get('/dashboard?month=2026-04');
    expect(dash.status).toBe(200);
    expect(dash.text).toMatch(/data-testid="month-total">\$19\.99</);
    expect(dash.text).toContain('kept across restarts');
  });
});
