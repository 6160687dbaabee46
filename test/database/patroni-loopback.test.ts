/**
 * Patroni's Kubernetes DCS, synchronous replication, failover and pgBackRest point-in-time
 * restore, proven with real servers before real nodes: Patroni + PostgreSQL 15 processes on
 * loopback against the real kube-apiserver of the test control plane, a ServiceAccount bound
 * to the construct's Role, and an S3 repository on moto behind TLS.
 *
 * The writer plays the app behind the `postgres` Service: before each (re)connect it asks the
 * API server for the Service's endpoints (what kube-proxy follows) and connects to that member.
 */
import { mkdtempSync, rmSync, writeFileSync, chmodSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { patroniPolicyRules, PATRONI_PRIMARY_ROLE, PATRONI_REPLICA_ROLE, PATRONI_ROLE_LABEL } from '../../charts/patroni-config.js';
import { startCluster, type TestCluster } from '../../scripts/test-cluster/cluster.js';
import { waitFor } from '../../scripts/test-cluster/kubectl.js';
import { restoreCluster, type ClusterOperations } from '../../scripts/db/restore.js';
import { LoopbackPatroniCluster, type Member } from './support/patroni-cluster.js';
import { startS3Server, type S3Server } from './support/s3.js';

const NS = 'db-loopback';
const SCOPE = 'postgres';
const STANZA = 'expense';
const LABELS = { 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'loopback', 'app.kubernetes.io/component': 'database' };
const SUPERUSER_PASSWORD = 'loopback-superuser';

let cluster: TestCluster;
let s3: S3Server;
let patroni: LoopbackPatroniCluster;
let dir: string;

async function endpointsOf(service: string): Promise<string[]> {
  const slices = await cluster.kubectl.json<{ items: { endpoints?: { targetRef?: { name: string }; conditions?: { ready?: boolean } }[] }[] }>(
    ['-n', NS, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${service}`],
  );
  return slices.items
    .flatMap((s) => s.endpoints ?? [])
    .filter((e) => e.conditions?.ready !== false)
    .map((e) => e.targetRef?.name ?? '')
    .sort();
}

type ListRow = Awaited<ReturnType<LoopbackPatroniCluster['list']>>[number];
async function healthy(expectMembers: number): Promise<ListRow[] | undefined> {
  const rows = await patroni.list().catch(() => undefined);
  if (!rows || rows.length !== expectMembers) return undefined;
  const leader = rows.filter((r) => r.Role === 'Leader' && r.State === 'running');
  const sync = rows.filter((r) => r.Role === 'Sync Standby' && r.State === 'streaming');
  const replicas = rows.filter((r) => r.Role === 'Replica' && r.State === 'streaming');
  if (leader.length !== 1 || sync.length !== Math.min(1, expectMembers - 1) || sync.length + replicas.length !== expectMembers - 1) return undefined;
  return rows;
}

async function leaderMember(): Promise<Member> {
  const rows = await patroni.list();
  const leader = rows.find((r) => r.Role === 'Leader');
  if (!leader) throw new Error(`no leader: ${JSON.stringify(rows)}`);
  return patroni.member(leader.Member);
}

function client(m: Member): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: m.pgPort, user: 'postgres', password: SUPERUSER_PASSWORD, database: 'postgres', connectionTimeoutMillis: 2000, statement_timeout: 5000 });
}

async function sql<T extends pg.QueryResultRow = any>(m: Member, text: string, values: unknown[] = []): Promise<T[]> {
  const c = client(m);
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}

/** The app's view: the member behind Service `postgres` right now (undefined while it has none). */
async function primaryBehindService(): Promise<Member | undefined> {
  const names = await endpointsOf('postgres');
  return names.length === 1 ? patroni.member(names[0]) : undefined;
}

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, podReadyDelayMs: { min: 0, max: 0 } });
  dir = mkdtempSync(join(tmpdir(), 'patroni-loopback-'));
  chmodSync(dir, 0o755);
  const k = cluster.kubectl;
  const manifests = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'postgres', namespace: NS } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'postgres-patroni', namespace: NS }, rules: patroniPolicyRules() },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'postgres-patroni', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'postgres-patroni' },
      subjects: [{ kind: 'ServiceAccount', name: 'postgres', namespace: NS }],
    },
    ...[0, 1, 2].map((i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${SCOPE}-${i}`, namespace: NS, labels: { ...LABELS, 'cluster-name': SCOPE } },
      spec: { serviceAccountName: 'postgres', containers: [{ name: 'postgres', image: 'stand-in.invalid/patroni:loopback', ports: [{ name: 'postgresql', containerPort: 5432 }] }] },
    })),
    ...[
      ['postgres', PATRONI_PRIMARY_ROLE],
      ['postgres-replicas', PATRONI_REPLICA_ROLE],
    ].map(([name, role]) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: NS },
      spec: { selector: { ...LABELS, [PATRONI_ROLE_LABEL]: role }, ports: [{ name: 'postgresql', port: 5432, targetPort: 'postgresql' }] },
    })),
  ];
  await k.run(['apply', '-f', '-'], { input: manifests.map((m) => `---\n${stringify(m)}`).join('') });
  // Patroni authenticates as the ServiceAccount: the Role is all it may do.
  const token = (await k.run(['-n', NS, 'create', 'token', 'postgres', '--duration', '2h'])).stdout.trim();
  const ca = join(dir, 'ca.crt');
  copyFileSync(join(cluster.dir, 'pki', 'ca.crt'), ca);
  chmodSync(ca, 0o644);
  const kubeconfig = join(dir, 'patroni.kubeconfig');
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: cluster.server, 'certificate-authority': ca } }],
      users: [{ name: 'patroni', user: { token } }],
      contexts: [{ name: 'patroni', context: { cluster: 'test', user: 'patroni', namespace: NS } }],
      'current-context': 'patroni',
    }),
  );
  chmodSync(kubeconfig, 0o644);

  s3 = await startS3Server();
  await s3.createBucket('expense-backups');
  patroni = new LoopbackPatroniCluster({
    dir: join(dir, 'members'),
    namespace: NS,
    scope: SCOPE,
    podLabels: LABELS,
    members: 3,
    kubeconfig,
    kubeContext: 'patroni',
    s3: {
      repository: { type: 's3', endpoint: s3.endpoint, port: s3.port, bucket: 'expense-backups', region: s3.region, uriStyle: 'path', caFile: s3.caFile, path: '/loopback' },
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
    },
    stanza: STANZA,
    // Shorter than production so a lost node (SIGKILL) fails over within the test's patience.
    timing: { ttlSeconds: 20, loopWaitSeconds: 5, retryTimeoutSeconds: 5 },
    superuserPassword: SUPERUSER_PASSWORD,
    replicationPassword: 'loopback-replication',
  });
  await patroni.prepare();
  await patroni.start();
});

afterAll(async () => {
  await patroni?.stop();
  await s3?.stop();
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Patroni on the Kubernetes API (loopback members, real kube-apiserver)', () => {
  it('elects one leader with a synchronous standby; the role-label Services agree with patronictl', async () => {
    const rows = await waitFor('a leader, a sync standby and a streaming replica', () => healthy(3), 180_000, 1000);
    const leader = rows.find((r) => r.Role === 'Leader')!.Member;
    const replicas = rows.filter((r) => r.Role !== 'Leader').map((r) => r.Member).sort();
    await waitFor('Service endpoints following the role labels', async () => {
      const [primary, standby] = [await endpointsOf('postgres'), await endpointsOf('postgres-replicas')];
      return JSON.stringify(primary) === JSON.stringify([leader]) && JSON.stringify(standby) === JSON.stringify(replicas);
    }, 30_000);
    // The DCS objects are plain ConfigMaps in the namespace.
    const cms = await cluster.kubectl.json<{ items: { metadata: { name: string } }[] }>(['-n', NS, 'get', 'configmaps', '-l', `cluster-name=${SCOPE}`]);
    expect(cms.items.map((c) => c.metadata.name)).toEqual(expect.arrayContaining([`${SCOPE}-config`, `${SCOPE}-leader`, `${SCOPE}-sync`]));
    const settings = await sql(patroni.member(leader), "select name, setting from pg_settings where name in ('synchronous_standby_names','archive_mode')");
    expect(Object.fromEntries(settings.map((s) => [s.name, s.setting]))).toMatchObject({ archive_mode: 'on', synchronous_standby_names: expect.stringContaining(rows.find((r) => r.Role === 'Sync Standby')!.Member) });
  });

  it('archives WAL to S3 and takes a full backup', async () => {
    const leader = await leaderMember();
    await patroni.pgbackrest(leader, ['stanza-create']);
    await patroni.pgbackrest(leader, ['check']);
    await patroni.pgbackrest(leader, ['--type=full', 'backup']);
    const info = JSON.parse(await patroni.pgbackrest(leader, ['--output=json', 'info']));
    expect(info[0].status.message).toBe('ok');
    expect(info[0].backup.map((b: { type: string }) => b.type)).toEqual(['full']);
  });

  it('a deleted primary fails over under a stream of writes without losing an acknowledged write', async () => {
    const first = await primaryBehindService();
    expect(first).toBeDefined();
    await sql(first!, 'create table if not exists writes (id integer primary key, at timestamptz not null default clock_timestamp())');
    const acknowledged: number[] = [];
    let failed = 0;
    let next = 0;
    let stopAt = Number.POSITIVE_INFINITY;
    let killedAt = 0;
    let firstWriteAfterKill = 0;
    const writer = (async () => {
      let c: pg.Client | undefined;
      while (Date.now() < stopAt) {
        try {
          if (!c) {
            const m = await primaryBehindService();
            if (!m) throw new Error('Service postgres has no endpoint');
            c = client(m);
            c.on('error', () => undefined);
            await c.connect();
          }
          const id = ++next;
          await c.query('insert into writes (id) values ($1)', [id]);
          acknowledged.push(id);
          if (killedAt && !firstWriteAfterKill) firstWriteAfterKill = Date.now();
        } catch {
          failed++;
          await c?.end().catch(() => undefined);
          c = undefined;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      await c?.end().catch(() => undefined);
    })();
    await new Promise((r) => setTimeout(r, 3000));
    const before = acknowledged.length;
    killedAt = Date.now();
    await patroni.stopMember(first!, 'terminate');
    await waitFor('a write on the new primary', async () => firstWriteAfterKill > 0, 90_000, 200);
    stopAt = Date.now() + 3000;
    await writer;
    const failoverSeconds = (firstWriteAfterKill - killedAt) / 1000;
    process.stderr.write(`[patroni-loopback] failover: first write ${failoverSeconds.toFixed(2)} s after SIGTERM to the primary, ${failed} failed writes, ${acknowledged.length} acknowledged (${before} before)\n`);

    const newPrimary = await primaryBehindService();
    expect(newPrimary).toBeDefined();
    expect(newPrimary!.name).not.toBe(first!.name);
    const rows = await sql<{ id: number }>(newPrimary!, 'select id from writes');
    const stored = new Set(rows.map((r) => r.id));
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    expect(failoverSeconds).toBeLessThan(30);

    // The StatefulSet recreates the pod: the old primary rejoins as a replica (pg_rewind if needed).
    patroni.startMember(first!);
    await waitFor('the old primary streaming again', () => healthy(3), 180_000, 1000);
  });

  it('restores to a point in time: rows up to the target come back, later rows do not', async () => {
    let leader = await leaderMember();
    await patroni.pgbackrest(leader, ['--type=diff', 'backup']);
    await sql(leader, 'create table ledger (id integer primary key, at timestamptz not null default clock_timestamp())');
    await sql(leader, 'insert into ledger (id) select generate_series(1, 500)');
    await new Promise((r) => setTimeout(r, 1100));
    const [{ target }] = await sql<{ target: string }>(leader, "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as target");
    await new Promise((r) => setTimeout(r, 1100));
    await sql(leader, 'insert into ledger (id) select generate_series(501, 800)');
    // Make sure the WAL with the later rows is archived too: the restore must stop before it.
    await sql(leader, 'select pg_switch_wal()');
    await patroni.pgbackrest(leader, ['check']);
    await sql(leader, 'drop table ledger');

    const ops: ClusterOperations = {
      members: patroni.members.map((m) => m.name),
      stopAll: () => patroni.stop(),
      deleteDcsState: async () => {
        await cluster.kubectl.run(['-n', NS, 'delete', 'configmaps', '-l', `cluster-name=${SCOPE}`, '--wait']);
      },
      wipeData: async () => {
        for (const m of patroni.members) rmSync(join(m.dir, 'data'), { recursive: true, force: true });
      },
      publishRestoreFragment: async (fragment) => {
        if (fragment) patroni.writeFragment('50-restore.yaml', fragment);
        else for (const m of patroni.members) rmSync(join(m.configDir, '50-restore.yaml'), { force: true });
      },
      startMembers: async (count) => {
        for (const m of patroni.members.slice(0, count)) if (!m.process || m.process.exitCode !== null || m.process.signalCode !== null) patroni.startMember(m);
      },
      waitForLeader: async (member, timeoutMs) => {
        await waitFor(`${member} leading`, async () => {
          const rows = await patroni.list().catch(() => []);
          return rows.some((r) => r.Member === member && r.Role === 'Leader' && r.State === 'running');
        }, timeoutMs, 1000);
      },
      waitForReplicas: async (timeoutMs) => {
        await waitFor('replicas streaming', () => healthy(3), timeoutMs, 1000);
      },
      fullBackup: async () => {
        await patroni.pgbackrest(await leaderMember(), ['--type=full', 'backup']);
      },
    };
    await restoreCluster(ops, { stanza: STANZA, targetTime: target, leaderTimeoutSeconds: 300, replicaTimeoutSeconds: 300, progress: (l) => process.stderr.write(`[restore] ${l}\n`) });

    leader = await leaderMember();
    const [{ count, max }] = await sql<{ count: string; max: number }>(leader, 'select count(*), max(id) from ledger');
    expect(Number(count)).toBe(500);
    expect(max).toBe(500);
    // The restored primary takes writes and replicates them synchronously again.
    await sql(leader, 'insert into ledger (id) values (501)');
    const standby = (await patroni.list()).find((r) => r.Role === 'Sync Standby')!;
    await waitFor('the new row on the sync standby', async () => (await sql(patroni.member(standby.Member), 'select 1 from ledger where id = 501')).length === 1, 30_000);
  });
});
