/**
 * The compose file `npm run synth -- --env local --set postgres.mode=ha` writes, on the private
 * engine with docker-compose 1.29: etcd, three Patroni members (synchronous_mode) and HAProxy's
 * `listen postgres` (`option httpchk GET /primary`) in front of them; the app and its migrations
 * reach PostgreSQL only through HAProxy. Stopping the primary's container under a stream of app
 * writes: HAProxy routes to the new primary, the app recovers by itself, no acknowledged write is lost.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { ETCD, POSTGRES } from '@expense-tracker/model/components';
import { formatImageReference } from '@expense-tracker/model/images';
import { progress } from '@expense-tracker/tools/docker-engine/engine';
import { buildAppImage, REPO_ROOT } from '@expense-tracker/tools/docker-engine/images';
import { COMPOSE_DIR, patroniMemberNames, SERVICES } from '../../charts/docker-compose.js';
import { composeProject, type ComposeProject } from './support/compose.js';
import { d, eventually, setupEngine, teardownEngine, type TestEngine } from './support/docker.js';
import { registerAddExpenseDashboard, type PageClient } from './support/http.js';

const SET = ['postgres.mode=ha'];
const env = loadEnvironment('local', { set: SET });
const members = patroniMemberNames(env);
/** Compose projects of this suite are `etkh<pid>`; leftovers of killed runs are removed by PID. */
const PROJECT_PREFIX = 'etkh';

let engine: TestEngine;
let project: ComposeProject;
let baseUrl: string;
const compose = (args: readonly string[]) => project.compose(args);
const containerOf = (service: string) => project.containerOf(service);

/** Servers of HAProxy's `listen postgres` in state UP (Prometheus exporter). */
async function postgresServersUp(): Promise<string[]> {
  return (await project.haproxyMetrics()).serversInState(POSTGRES.name, 'UP');
}

/** psql as the superuser over the member's Unix socket (run.sh names the UID). */
async function psql(member: string, sql: string): Promise<string> {
  const r = await d(['exec', await containerOf(member), 'sh', '/etc/patroni/run.sh', 'psql', '-h', '/var/run/postgresql', '-U', 'postgres', '-d', env.postgres.database, '-tAc', sql]);
  return r.stdout.trim();
}

beforeAll(async () => {
  engine = await setupEngine();
  await buildAppImage(formatImageReference(env.image));
  // Exactly what `npm run synth -- --set postgres.mode=ha` writes.
  const out = join(engine.scratch, 'dist');
  await execa('npm', ['run', '-s', 'synth', '--', '--env', 'local', ...SET.flatMap((s) => ['--set', s]), '--out', out], { cwd: REPO_ROOT });
  project = await composeProject(engine, { prefix: PROJECT_PREFIX, file: join(out, 'local', COMPOSE_DIR, 'docker-compose.yml'), bridgeTag: 'h' });
  ({ baseUrl } = project);
});
afterAll(async () => {
  try {
    await project?.down();
  } finally {
    await teardownEngine(engine);
  }
});

describe('generated docker-compose topology with postgres.mode=ha', () => {
  let client: PageClient;
  it(`comes up: ${members.length} Patroni members on etcd, one synchronous standby, the app through HAProxy`, async () => {
    const began = Date.now();
    const up = await compose(['up', '--detach']);
    expect(up.exitCode, `${String(up.all)}\n${String((await compose(['logs', '--tail', '30', ...members, SERVICES.haproxy])).all)}`).toBe(0);
    await eventually('the app ready through HAProxy', async () => (await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(5000) })).status === 200, 90, async () => String((await compose(['logs', '--tail', '20'])).all));
    progress(`docker-compose up (ha) to ready through HAProxy: ${((Date.now() - began) / 1000).toFixed(1)} s`);
    const [primary] = await postgresServersUp();
    expect(await postgresServersUp()).toHaveLength(1);
    expect(await psql(primary!, 'select pg_is_in_recovery()')).toBe('f');
    // Patroni names a synchronous standby once a replica streams, which can be a loop after the app
    // is ready. The failover below starts from a formed cluster: every replica past catch-up and one
    // of them synchronous. (A primary stopped 2 s after its sync standby was named was never
    // replaced: for 90 s both replicas logged "not the healthiest node" and neither promoted.)
    const standbys = new RegExp(members.filter((m) => m !== primary).join('|'));
    await eventually('a synchronous standby', async () => standbys.test(await psql(primary!, 'show synchronous_standby_names')), 60);
    await eventually(
      `${members.length - 1} replicas streaming, one of them synchronous`,
      async () => (await psql(primary!, "select count(*) filter (where state = 'streaming') || ' ' || count(*) filter (where sync_state = 'sync') from pg_stat_replication")) === `${members.length - 1} 1`,
      60,
      async () => psql(primary!, 'select application_name, state, sync_state, sent_lsn, replay_lsn from pg_stat_replication'),
    );
    // migrate ran through HAProxy against the primary.
    expect(Number(await psql(primary!, 'select count(*) from pgmigrations'))).toBeGreaterThan(0);
    const migrate = await d(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', await containerOf(SERVICES.migrate)]);
    expect(migrate.stdout.trim()).toBe('exited 0');
  });

  it('serves register → add expense → dashboard through HAProxy', async () => {
    const r = await registerAddExpenseDashboard(baseUrl, `compose-ha-${engine.run}@example.com`, { amount: '12.50', category: 'Books', description: 'written to the Patroni primary', date: '2026-04-02' });
    expect(r.html).toMatch(/data-testid="month-total">\$12\.50</);
    client = r.client;
  });

  it("stopping the primary's container under app writes: HAProxy routes to the new primary, no acknowledged write lost", async () => {
    const [oldPrimary] = await postgresServersUp();
    const today = new Date().toISOString().slice(0, 10);
    const cookie = [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const acknowledged: string[] = [];
    const failures: string[] = [];
    let n = 0;
    let running = true;
    let stoppedAt = 0;
    let lastFailureAt = 0;
    const writer = (async () => {
      while (running) {
        const description = `w-${++n}`;
        try {
          const res = await fetch(`${baseUrl}/api/expenses`, {
            method: 'POST',
            headers: { cookie, 'content-type': 'application/json' },
            body: JSON.stringify({ amountCents: 100, currency: 'USD', category: 'Failover', description, date: today }),
            signal: AbortSignal.timeout(15_000),
          });
          const text = await res.text();
          if (res.status !== 201) throw new Error(`HTTP ${res.status} ${text.slice(0, 100)}`);
          acknowledged.push(description);
        } catch (error) {
          failures.push((error as Error).message);
          lastFailureAt = Date.now();
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
    try {
      await eventually('writes flowing', async () => acknowledged.length >= 20, 30);
      const failedBefore = failures.length;
      stoppedAt = Date.now();
      const stop = await d(['stop', '--time', '60', await containerOf(oldPrimary!)]);
      expect(stop.exitCode).toBe(0);
      let newPrimary = '';
      await eventually('HAProxy routing to a new primary', async () => {
        const up = await postgresServersUp();
        newPrimary = up.length === 1 && up[0] !== oldPrimary ? up[0]! : '';
        return newPrimary !== '';
      }, 90, async () => `listen postgres servers UP: ${(await postgresServersUp().catch(() => [])).join(', ') || 'none'}\n${String((await compose(['logs', '--tail', '40', ...members, ETCD.name, SERVICES.haproxy])).all)}`);
      const toNewPrimary = (Date.now() - stoppedAt) / 1000;
      const atSwitch = acknowledged.length;
      await eventually('the app writing again', async () => acknowledged.length >= atSwitch + 20, 60);
      running = false;
      await writer;
      const failed = failures.length - failedBefore;
      const recovery = failed ? `last failed write ${((lastFailureAt - stoppedAt) / 1000).toFixed(1)} s after the stop` : 'no write failed';
      progress(`compose failover: HAProxy on ${newPrimary} ${toNewPrimary.toFixed(1)} s after stopping ${oldPrimary}; ${recovery}; ${failed} failed writes of ${n} (${[...new Set(failures.map((f) => f.slice(0, 60)))].slice(0, 3).join(' | ')}); ${acknowledged.length} acknowledged`);
      expect(await psql(newPrimary, 'select pg_is_in_recovery()')).toBe('f');
      const stored = new Set((await psql(newPrimary, "select description from expenses where category = 'Failover'")).split('\n'));
      expect(acknowledged.filter((desc) => !stored.has(desc))).toEqual([]);
      expect(toNewPrimary).toBeLessThan(60);
    } finally {
      running = false;
      await writer;
    }
    // The dashboard, through HAProxy on the new primary, still shows the expense written before the failover.
    const dash = await client.get('/dashboard?month=2026-04');
    expect(dash.status).toBe(200);
    expect(dash.text).toContain('written to the Patroni primary');
  });
});
