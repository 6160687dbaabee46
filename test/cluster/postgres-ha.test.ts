/**
 * HA PostgreSQL as real pods: `dist/local` synthesized with `postgres.mode=ha` (Patroni ×3 on the
 * Kubernetes API, synchronous mode, role-following Services) on a fresh real-node cluster, the
 * Patroni stand-in pulled from the node's registry under the production image's name. One node
 * holds all three members: the environment's `postgres.ha.antiAffinity` is `preferred` (the
 * documented setting for clusters smaller than the member count; `ibm` requires distinct nodes).
 * The members' egress NetworkPolicy to the API server gets this cluster's endpoint through
 * `postgres.ha.apiServer`, as a user would set it for their cluster.
 *
 * Proves: three members running with one leader, a synchronous standby and a streaming replica,
 * the Services' endpoints agreeing with `patronictl list`, migrations applied on the primary,
 * writes through the app's API (Ingress -> HAProxy -> web -> Service postgres), and deleting the
 * leader's pod under that stream of writes: a new leader, zero acknowledged writes lost, the app
 * writing again by itself, the old member back as a streaming replica. Backups are on, with the
 * repository on a PersistentVolumeClaim all members mount (`postgres.backup.repository=pvc`, the
 * documented single-node setting): WAL archiving from the members, a backup taken as users take
 * one (`npm run db -- backup`: a Job from the CronJob, whose kubectl image, the stand-in under the
 * production name, runs `kubectl exec` in the primary), and a point-in-time restore with
 * `npm run db -- restore --to <T>` that brings back exactly the rows committed up to T, with every
 * member streaming again and the app writing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import type { KubeObject } from '../../charts/synthesize.js';
import { PATRONI_RUN, PATRONI_SOCKET_DIR, PostgresHa } from '../../charts/postgres-ha.js';
import { secretManifests } from '../../scripts/create-secrets.js';
import { startCluster, stopCluster, type TestCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import { waitFor } from '@expense-tracker/testkit/test-cluster/kubectl';
import { appImageReferences, ensureClusterImages } from '@expense-tracker/testkit/test-cluster/node/images';
import { IngressSession } from './ingress.js';
import { deployEnvironment, hostLimitSets, synth, waitForWorkloads } from './support.js';

const progress = (m: string) => process.stderr.write(`[postgres-ha] ${m}\n`);
const ENV = 'local';
const base = loadEnvironment(ENV);
const NAMESPACE = base.namespace;
const HOST = base.ingress.host;
const MEMBERS = 3;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

type ListRow = { Member: string; Role: string; State: string; TL?: number };

describe('HA PostgreSQL (Patroni ×3) on a real node', () => {
  let cluster: TestCluster;
  let work: string;
  let objects: KubeObject[];
  const onExit = () => {
    if (cluster) for (const p of cluster.processes) try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  const k = (args: string[], reject = true) => cluster.kubectl.run(['-n', NAMESPACE, ...args], { reject });
  const pods = async () => (await cluster.kubectl.json<{ items: any[] }>(['-n', NAMESPACE, 'get', 'pods', '-l', `app.kubernetes.io/component=database`])).items;
  const leaderPod = async () => (await pods()).filter((p) => p.metadata.labels.role === 'primary' && !p.metadata.deletionTimestamp).map((p) => p.metadata.name as string);
  /** Runs a command in a member's postgres container through the image's run.sh (its environment). */
  const inMember = async (pod: string, command: string[]) => (await k(['exec', pod, '--container', 'postgres', '--', PATRONI_RUN, ...command])).stdout;
  const psql = async (pod: string, sql: string) => (await inMember(pod, ['psql', '-h', PATRONI_SOCKET_DIR, '-U', 'postgres', '-d', base.postgres.database, '-XAt', '-c', sql])).trim();
  const list = async (pod: string) => JSON.parse(await inMember(pod, ['patronictl', '-c', '/etc/patroni', 'list', '-f', 'json'])) as ListRow[];
  /** `patronictl list` when it shows one running leader, one streaming sync standby and streaming replicas. */
  const healthy = async (): Promise<ListRow[] | undefined> => {
    const [leader] = await leaderPod();
    if (!leader) return undefined;
    const rows = await list(leader).catch(() => undefined);
    if (!rows || rows.length !== MEMBERS) return undefined;
    const ok = rows.filter((r) => r.Role === 'Leader' && r.State === 'running').length === 1
      && rows.filter((r) => r.Role === 'Sync Standby' && r.State === 'streaming').length === 1
      && rows.filter((r) => r.Role !== 'Leader' && r.State === 'streaming').length === MEMBERS - 1;
    return ok ? rows : undefined;
  };
  const endpointsOf = async (service: string) => {
    const slices = await cluster.kubectl.json<{ items: any[] }>(['-n', NAMESPACE, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${service}`]);
    return slices.items.flatMap((s) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready).map((e: any) => e.targetRef?.name as string)).sort();
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'expense-tracker-postgres-ha-'));
    process.on('exit', onExit);
    await ensureClusterImages({ progress, appImages: appImageReferences() });
    cluster = await startCluster({ dir: join(work, 'cluster'), ingressNamespace: base.ingressControllerNamespace, progress });
    // Where this cluster's pods reach the API server (the `kubernetes` Service's endpoint), as the docs tell users to look it up.
    const ep = await cluster.kubectl.json<any>(['get', 'endpoints', 'kubernetes', '-n', 'default']);
    const sets = [
      'postgres.mode=ha',
      `postgres.ha.members=${MEMBERS}`,
      'postgres.ha.antiAffinity=preferred',
      `postgres.ha.apiServer.cidrs={${ep.subsets[0].addresses.map((a: any) => `${a.ip}/32`).join(',')}}`,
      `postgres.ha.apiServer.port=${ep.subsets[0].ports[0].port}`,
      // pgBackRest's repository on one claim every member mounts (one node: ReadWriteOnce is enough).
      'postgres.backup.enabled=true',
      'postgres.backup.repository=pvc',
      'postgres.backup.pvc.storage=2Gi',
      ...hostLimitSets(base),
    ];
    progress(`synth ${ENV} ${sets.map((s) => `--set ${s}`).join(' ')}`);
    const out = await synth(ENV, join(work, 'dist'), sets);
    objects = out.objects;
    const secrets = secretManifests(loadEnvironment(ENV, { set: sets })).map((s) => `---\n${stringify(s)}`).join('');
    // The database tier first, until Patroni has a leader: applied together, the web pods' migrate
    // init container fails while Patroni bootstraps and waits out the kubelet's growing restart back-off.
    const warnings = await deployEnvironment(cluster.kubectl, out.dir, secrets, (file) => /postgres/.test(basename(file)));
    await waitFor('a Patroni leader', async () => (await leaderPod()).length === 1, 300_000, 1000);
    warnings.push(...(await deployEnvironment(cluster.kubectl, out.dir, secrets)));
    expect(warnings).toEqual([]);
  });

  afterAll(async () => {
    process.off('exit', onExit);
    if (work) {
      await stopCluster(join(work, 'cluster'));
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('runs three members on the node: one leader, a synchronous standby, a streaming replica; Services follow patronictl; migrations ran on the primary', async () => {
    const sts = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === PostgresHa.NAME) as any;
    expect(sts.spec.replicas).toBe(MEMBERS);
    const began = Date.now();
    await waitForWorkloads(cluster.kubectl, NAMESPACE, objects, 420_000);
    const rows = await waitFor('a leader, a sync standby and a streaming replica', healthy, 180_000, 2000);
    progress(`workloads ready and Patroni healthy ${((Date.now() - began) / 1000).toFixed(0)} s after apply: ${JSON.stringify(rows)}`);
    const running = (await pods()).filter((p) => p.status.phase === 'Running');
    expect(running.map((p) => p.metadata.name).sort()).toEqual(Array.from({ length: MEMBERS }, (_, i) => `${PostgresHa.NAME}-${i}`));
    for (const p of running) expect(p.status.containerStatuses[0].containerID).toMatch(/^containerd:\/\//);
    const leader = rows.find((r) => r.Role === 'Leader')!.Member;
    await waitFor('Service endpoints following the role labels', async () =>
      JSON.stringify(await endpointsOf('postgres')) === JSON.stringify([leader])
      && JSON.stringify(await endpointsOf('postgres-replicas')) === JSON.stringify(rows.filter((r) => r.Role !== 'Leader').map((r) => r.Member).sort()), 60_000, 1000);
    const sync = rows.find((r) => r.Role === 'Sync Standby')!.Member;
    expect(await psql(leader, 'show synchronous_standby_names')).toContain(sync);
    // The web pods' migrate init container ran against Service postgres = the primary.
    expect(Number(await psql(leader, 'select count(*) from pgmigrations'))).toBeGreaterThan(0);
    expect(await psql(leader, "select to_regclass('public.expenses') is not null")).toBe('t');
  });

  it('deleting the leader pod under a stream of app writes: a new leader, no acknowledged write lost, the app recovers by itself', async () => {
    const app = new IngressSession(cluster.ingressUrl!, HOST);
    const email = `failover-${Date.now()}@example.com`;
    const reg = await app.submit('/register', '/register', { email, password: 'correct horse battery' });
    expect(reg.status, reg.text.slice(0, 300)).toBe(303);
    const login = await app.submit('/login', '/login', { email, password: 'correct horse battery' });
    expect(login.status).toBe(303);
    const today = new Date().toISOString().slice(0, 10);

    const [oldLeader] = await leaderPod();
    expect(oldLeader).toBeDefined();
    const acknowledged: string[] = [];
    const failures: string[] = [];
    let n = 0;
    let running = true;
    let deletedAt = 0;
    let firstAfter = 0;
    let failedBeforeDelete = 0;
    const writer = (async () => {
      while (running) {
        const description = `w-${++n}`;
        try {
          const r = await app.send('POST', '/api/expenses', { json: { amountCents: 100, currency: 'USD', category: 'Failover', description, date: today }, timeoutMs: 15_000 });
          if (r.status !== 201) throw new Error(`${r.status} ${r.text.slice(0, 120)}`);
          acknowledged.push(description);
          if (deletedAt && !firstAfter && failures.length > failedBeforeDelete) firstAfter = Date.now();
        } catch (error) {
          failures.push((error as Error).message);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
    try {
      await waitFor('writes flowing', async () => acknowledged.length >= 20, 60_000, 200);
      failedBeforeDelete = failures.length;
      deletedAt = Date.now();
      await k(['delete', 'pod', oldLeader!, '--wait=false']);
      let newLeader = '';
      await waitFor('a new leader behind Service postgres', async () => {
        const eps = await endpointsOf('postgres');
        newLeader = eps.length === 1 && eps[0] !== oldLeader ? eps[0]! : '';
        return newLeader !== '';
      }, 120_000, 250);
      const toNewLeader = (Date.now() - deletedAt) / 1000;
      const countAtLeader = acknowledged.length;
      await waitFor('the app writing again', async () => acknowledged.length >= countAtLeader + 20, 120_000, 200);
      running = false;
      await writer;
      const recovery = firstAfter ? `first write after the failed ones ${((firstAfter - deletedAt) / 1000).toFixed(1)} s after the delete` : 'no write failed';
      progress(`failover: Service postgres on ${newLeader} ${toNewLeader.toFixed(1)} s after deleting ${oldLeader}; ${recovery}; ${failures.length} failed writes of ${n} (${[...new Set(failures.map((f) => f.slice(0, 60)))].slice(0, 4).join(' | ')}); ${acknowledged.length} acknowledged`);

      const stored = new Set((await psql(newLeader, "select description from expenses where category = 'Failover'")).split('\n'));
      expect(acknowledged.filter((d) => !stored.has(d))).toEqual([]);
      expect(toNewLeader).toBeLessThan(60);
    } finally {
      running = false;
      await writer;
    }
    // The StatefulSet recreated the deleted member; it rejoins as a replica and streams again.
    const rows = await waitFor('three members streaming again', healthy, 240_000, 2000);
    expect(rows.find((r) => r.Member === oldLeader)?.Role).not.toBe('Leader');
  });

  it('backs up with `npm run db -- backup` (a Job from the CronJob, kubectl exec in the primary) and restores to a point in time with `npm run db -- restore`', async () => {
    // The CLI as users run it: kubectl on PATH (the release the cluster runs), this cluster in KUBECONFIG.
    const db = async (args: string[]) => {
      const began = Date.now();
      const r = await execa('npm', ['run', '--silent', 'db', '--', ...args, '--env', ENV], {
        cwd: ROOT,
        env: { KUBECONFIG: cluster.kubectl.kubeconfig, PATH: `${dirname(cluster.kubectl.binary)}:${process.env.PATH}` },
        all: true,
        reject: false,
        timeout: 900_000,
      });
      const seconds = (Date.now() - began) / 1000;
      progress(`npm run db -- ${args.join(' ')}: exit ${r.exitCode} after ${seconds.toFixed(1)} s\n${String(r.all).trim()}`);
      expect(r.exitCode, String(r.all)).toBe(0);
      return { output: String(r.all), seconds };
    };
    const primary = async () => {
      const [leader] = await leaderPod();
      if (!leader) throw new Error('no primary');
      return leader;
    };
    const info = async () => JSON.parse(await inMember(await primary(), ['pgbackrest', `--stanza=${base.postgres.backup.stanza}`, '--output=json', 'info']))[0];

    const backup = await db(['backup', '--type', 'full']);
    expect(backup.output).toMatch(/db: full backup done \(job\/postgres-backup-full-manual-\w+\)/);
    const job = /job\/(postgres-backup-full-manual-\w+)/.exec(backup.output)![1]!;
    // The Job ran the CronJob's image (the kubectl stand-in under the production name) with the CronJob's command.
    const jobPod = (await cluster.kubectl.json<{ items: any[] }>(['-n', NAMESPACE, 'get', 'pods', '-l', `job-name=${job}`])).items[0];
    expect(jobPod.spec.containers[0].image).toBe(`${base.postgres.backup.kubectlImage.repository}:${base.postgres.backup.kubectlImage.tag}`);
    expect(jobPod.status.phase).toBe('Succeeded');
    const before = await info();
    expect(before.status.message).toBe('ok');
    expect(before.backup.filter((b: any) => b.type === 'full')).toHaveLength(1);
    // WAL archiving works from the members: the primary archives, nothing is waiting.
    expect(before.archive[0].min).toBeTruthy();
    expect(Number(await psql(await primary(), 'select archived_count from pg_stat_archiver'))).toBeGreaterThan(0);

    // Rows up to the target, the target, rows after it: each insert its own transaction.
    const leader = await primary();
    await psql(leader, 'create table pitr_probe (id int primary key, at timestamptz not null default clock_timestamp())');
    for (let i = 1; i <= 20; i++) await psql(leader, `insert into pitr_probe (id) values (${i})`);
    const expensesAtTarget = Number(await psql(leader, 'select count(*) from expenses'));
    await new Promise((r) => setTimeout(r, 1100));
    const target = await psql(leader, `select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'`);
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 21; i <= 40; i++) await psql(leader, `insert into pitr_probe (id) values (${i})`);
    await psql(leader, "delete from expenses where category = 'Failover'");
    expect(Number(await psql(leader, 'select count(*) from pitr_probe'))).toBe(40);

    const timelineBefore = Math.max(...(await list(leader)).map((r) => r.TL ?? 0));
    const restore = await db(['restore', '--to', target, '--yes']);
    expect(restore.output).toContain(`db: restored ${NAMESPACE} to ${target}`);
    const writable = Number(/primary writable after (\d+) s/.exec(restore.output)?.[1]);

    const restored = await primary();
    expect(await psql(restored, 'select string_agg(id::text, \',\' order by id) from pitr_probe')).toBe(Array.from({ length: 20 }, (_, i) => i + 1).join(','));
    expect(Number(await psql(restored, 'select count(*) from expenses'))).toBe(expensesAtTarget);
    const rows = await waitFor('three members streaming after the restore', healthy, 300_000, 2000);
    // The restore took a full backup of the new timeline; the members clone from it.
    const after = await info();
    expect(after.backup.filter((b: any) => b.type === 'full').length).toBeGreaterThanOrEqual(2);
    // A restore promotes onto a new timeline.
    expect(Math.max(...rows.map((r) => r.TL ?? 0))).toBeGreaterThan(timelineBefore);

    // The app writes again through the restored primary: a new user (a fresh address per attempt) records an expense.
    const app = new IngressSession(cluster.ingressUrl!, HOST);
    await waitFor('the app signing up a user after the restore', async () => {
      await app.signUp(`restored-${Date.now()}@example.com`, 'correct horse battery');
      return true;
    }, 120_000, 1000);
    const created = await app.send('POST', '/api/expenses', { json: { amountCents: 4200, currency: 'USD', category: 'Restored', description: 'after the restore', date: new Date().toISOString().slice(0, 10) } });
    expect(created.status, created.text.slice(0, 300)).toBe(201);
    expect(await psql(await primary(), "select count(*) from expenses where category = 'Restored'")).toBe('1');
    progress(`backup: ${backup.seconds.toFixed(1)} s (npm run db -- backup); restore to ${target}: ${restore.seconds.toFixed(1)} s in all, primary writable after ${writable} s; members: ${JSON.stringify(rows)}`);
  });
});
