/**
 * A whole HA tier on loopback for tests and bench/failover: the test control plane (real
 * kube-apiserver, kwok nodes), the construct's RBAC bound to a ServiceAccount whose token
 * Patroni uses, one Pod object per member, the `postgres` / `postgres-replicas` Services
 * selecting on Patroni's role label, an S3 repository (moto behind TLS) and three Patroni
 * members. Also the app-like writer used to measure failovers.
 */
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { PATRONI_PRIMARY_ROLE, PATRONI_REPLICA_ROLE, PATRONI_ROLE_LABEL, PATRONI_SCOPE_LABEL, patroniPolicyRules } from '../../../charts/patroni-config.js';
import { startCluster, type TestCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import { waitFor } from '@expense-tracker/testkit/test-cluster/kubectl';
import { killNow } from '@expense-tracker/tools/process/supervise';
import { archiveEndedIn, SEAL_SQL, type ClusterOperations } from '../../../scripts/db/restore.js';
import { LoopbackPatroniCluster, type Member } from './patroni-cluster.js';
import { startS3Server, type S3Server } from './s3.js';

export const NS = 'db-loopback';
export const SCOPE = 'postgres';
export const STANZA = 'expense';
const LABELS = { 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'loopback', 'app.kubernetes.io/component': 'database' };
const SUPERUSER_PASSWORD = 'loopback-superuser';

/** The Pod object of a member, as the StatefulSet would create it (no `role` label yet). */
function podManifest(name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { ...LABELS, [PATRONI_SCOPE_LABEL]: SCOPE } },
    spec: { serviceAccountName: 'postgres', containers: [{ name: 'postgres', image: 'stand-in.invalid/patroni:loopback', ports: [{ name: 'postgresql', containerPort: 5432 }] }] },
  };
}

export type ListRow = Awaited<ReturnType<LoopbackPatroniCluster['list']>>[number];

export interface LoopbackHa {
  readonly cluster: TestCluster;
  readonly s3: S3Server;
  readonly patroni: LoopbackPatroniCluster;
  /** Names of the ready Pods behind a Service, sorted (from its EndpointSlices). */
  endpointsOf(service: string): Promise<string[]>;
  /** `patronictl list` when it shows one running leader, a streaming sync standby and streaming replicas. */
  healthy(): Promise<ListRow[] | undefined>;
  leaderMember(): Promise<Member>;
  /** The member behind Service `postgres` now (what the app reaches), if exactly one. */
  primaryBehindService(): Promise<Member | undefined>;
  client(m: Member | { host: string; port: number }): pg.Client;
  sql<T extends pg.QueryResultRow = any>(m: Member, text: string, values?: unknown[]): Promise<T[]>;
  /**
   * What `kubectl delete pod` does to a member: the Pod object goes (its endpoints leave the
   * Services at once), then Patroni gets SIGTERM (`terminate`), or the node is lost and both
   * Patroni and PostgreSQL die (`kill`).
   */
  deleteMember(m: Member, how: 'terminate' | 'kill'): Promise<void>;
  /** What the StatefulSet controller does next: a new Pod object, Patroni started on the same data. */
  recreateMember(m: Member): Promise<void>;
  /** The restore plan's operations for these processes. */
  restoreOperations(): ClusterOperations;
  stop(): Promise<void>;
}

export async function startLoopbackHa(options: { members?: number; timing?: { ttlSeconds: number; loopWaitSeconds: number; retryTimeoutSeconds: number } } = {}): Promise<LoopbackHa> {
  const members = options.members ?? 3;
  const cluster = await startCluster({ realNode: false, nodes: 3, podReadyDelayMs: { min: 0, max: 0 } });
  let s3: S3Server | undefined;
  let patroni: LoopbackPatroniCluster | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'patroni-loopback-'));
  // A killed test process never reaches stop(): the servers must not outlive it.
  const onExit = () => {
    patroni?.killNow();
    s3?.killNow();
    killNow(cluster.processes);
  };
  process.on('exit', onExit);
  const stop = async () => {
    await patroni?.stop();
    await s3?.stop();
    await cluster.stop();
    process.off('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
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
      ...Array.from({ length: members }, (_, i) => podManifest(`${SCOPE}-${i}`)),
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
      members,
      kubeconfig,
      kubeContext: 'patroni',
      s3: {
        repository: { type: 's3', endpoint: s3.endpoint, port: s3.port, bucket: 'expense-backups', region: s3.region, uriStyle: 'path', caFile: s3.caFile, path: '/loopback' },
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
      },
      stanza: STANZA,
      timing: options.timing,
      superuserPassword: SUPERUSER_PASSWORD,
      replicationPassword: 'loopback-replication',
    });
    await patroni.prepare();
    await patroni.start();
  } catch (error) {
    await stop();
    throw error;
  }
  const p = patroni;

  const endpointsOf = async (service: string) => {
    const slices = await cluster.kubectl.json<{ items: { endpoints?: { targetRef?: { name: string }; conditions?: { ready?: boolean } }[] }[] }>(['-n', NS, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${service}`]);
    return slices.items
      .flatMap((s) => s.endpoints ?? [])
      .filter((e) => e.conditions?.ready !== false)
      .map((e) => e.targetRef?.name ?? '')
      .sort();
  };
  const healthy = async () => {
    const rows = await p.list().catch(() => undefined);
    if (!rows || rows.length !== members) return undefined;
    const leader = rows.filter((r) => r.Role === 'Leader' && r.State === 'running');
    const sync = rows.filter((r) => r.Role === 'Sync Standby' && r.State === 'streaming');
    const replicas = rows.filter((r) => r.Role === 'Replica' && r.State === 'streaming');
    if (leader.length !== 1 || sync.length !== 1 || sync.length + replicas.length !== members - 1) return undefined;
    return rows;
  };
  const leaderMember = async () => {
    const rows = await p.list();
    const leader = rows.find((r) => r.Role === 'Leader');
    if (!leader) throw new Error(`no leader: ${JSON.stringify(rows)}`);
    return p.member(leader.Member);
  };
  const client = (m: Member | { host: string; port: number }) =>
    new pg.Client({
      host: '127.0.0.1',
      port: 'pgPort' in m ? m.pgPort : m.port,
      user: 'postgres',
      password: SUPERUSER_PASSWORD,
      database: 'postgres',
      connectionTimeoutMillis: 2000,
      statement_timeout: 5000,
    });
  const sql = async <T extends pg.QueryResultRow = any>(m: Member, text: string, values: unknown[] = []) => {
    const c = client(m);
    await c.connect();
    try {
      // Several statements (simple protocol, no values) give one result each: the last one's rows.
      const result: pg.QueryResult<T> | pg.QueryResult<T>[] = await c.query<T>(text, values);
      return (Array.isArray(result) ? result[result.length - 1] : result).rows;
    } finally {
      await c.end();
    }
  };
  const primaryBehindService = async () => {
    const names = await endpointsOf('postgres');
    return names.length === 1 ? p.member(names[0]) : undefined;
  };
  const deleteMember = async (m: Member, how: 'terminate' | 'kill') => {
    await cluster.kubectl.run(['-n', NS, 'delete', 'pod', m.name, '--wait=false', '--ignore-not-found']);
    await p.stopMember(m, how);
    await waitFor(`Pod ${m.name} gone`, async () => (await cluster.kubectl.run(['-n', NS, 'get', 'pod', m.name], { reject: false })).exitCode !== 0, 60_000, 200);
  };
  const recreateMember = async (m: Member) => {
    await cluster.kubectl.run(['apply', '-f', '-'], { input: stringify(podManifest(m.name)) });
    p.startMember(m);
  };
  const restoreOperations = (): ClusterOperations => {
    // Where each member's log stood when its data was wiped: a bootstrap reads only its own lines.
    const logFrom = new Map<string, number>();
    const logOf = (m: Member) => join(m.dir, 'patroni.log');
    return {
      members: p.members.map((m) => m.name),
      sealArchive: async () => {
        const primary = await primaryBehindService();
        if (!primary?.process || primary.process.exitCode !== null || primary.process.signalCode !== null) return undefined;
        let sealedAt: string;
        try {
          [{ sealed_at: sealedAt }] = await sql<{ sealed_at: string }>(primary, SEAL_SQL);
        } catch {
          return undefined;
        }
        await p.pgbackrest(primary, ['check']);
        return sealedAt;
      },
      stopAll: async () => {
        for (const m of p.members) await deleteMember(m, 'terminate');
      },
      deleteDcsState: async () => {
        await cluster.kubectl.run(['-n', NS, 'delete', 'configmaps', '-l', `${PATRONI_SCOPE_LABEL}=${SCOPE}`, '--wait']);
      },
      wipeData: async () => {
        for (const m of p.members) {
          rmSync(join(m.dir, 'data'), { recursive: true, force: true });
          logFrom.set(m.name, existsSync(logOf(m)) ? statSync(logOf(m)).size : 0);
        }
      },
      publishRestoreFragment: async (fragment) => {
        if (fragment) p.writeFragment('50-restore.yaml', fragment);
        else for (const m of p.members) rmSync(join(m.configDir, '50-restore.yaml'), { force: true });
      },
      startMembers: async (count) => {
        for (const m of p.members.slice(0, count)) if (!m.process || m.process.exitCode !== null || m.process.signalCode !== null) await recreateMember(m);
      },
      bootstrapState: async (name) => {
        if ((await p.list().catch(() => [])).some((r) => r.Member === name && r.Role === 'Leader' && r.State === 'running')) return { state: 'leading' };
        const m = p.member(name);
        const log = existsSync(logOf(m)) ? readFileSync(logOf(m)).subarray(logFrom.get(name) ?? 0).toString('utf8') : '';
        return archiveEndedIn(log) ?? { state: 'restoring' };
      },
      waitForReplicas: async (timeoutMs) => {
        let seen: unknown;
        await waitFor('replicas streaming', async () => {
          seen = await p.list().catch((e: Error) => e.message);
          return healthy();
        }, timeoutMs, 1000).catch((error: Error) => {
          throw new Error(`${error.message}; patronictl list: ${JSON.stringify(seen)}`);
        });
      },
      fullBackup: async () => {
        await p.pgbackrest(await leaderMember(), ['--type=full', 'backup']);
      },
    };
  };
  return { cluster, s3: s3!, patroni: p, endpointsOf, healthy, leaderMember, primaryBehindService, client, sql, deleteMember, recreateMember, restoreOperations, stop };
}

/** Outcome of one failover under writes. */
export interface FailoverRun {
  /** Seconds from stopping the primary to the first acknowledged write on the new one. */
  readonly secondsToFirstWrite: number;
  /** Writes that failed (errors or timeouts) during the run. */
  readonly failedWrites: number;
  readonly acknowledged: number[];
  readonly oldPrimary: string;
}

/**
 * Writes one row per request, like the app behind Service `postgres`: on any error it drops
 * the connection, waits 100 ms, asks the Service for its endpoint again and reconnects. After
 * `warmupMs` it deletes the primary's pod (`deleteMember`), and returns once a write succeeded
 * on another member and `tailMs` more passed. The caller recreates the old member.
 */
export async function failoverUnderWrites(ha: LoopbackHa, table: string, how: 'terminate' | 'kill', warmupMs = 3000, tailMs = 2000, timeoutMs = 120_000): Promise<FailoverRun> {
  const first = await ha.primaryBehindService();
  if (!first) throw new Error('Service postgres has no endpoint');
  const acknowledged: number[] = [];
  let failed = 0;
  let stopAt = Number.POSITIVE_INFINITY;
  let killedAt = 0;
  let firstAfter = 0;
  let next = Number((await ha.sql<{ m: string | null }>(first, `select max(id)::text as m from ${table}`))[0].m ?? 0);
  const writer = (async () => {
    let c: pg.Client | undefined;
    let on = '';
    while (Date.now() < stopAt) {
      try {
        if (!c) {
          const m = await ha.primaryBehindService();
          if (!m) throw new Error('no endpoint');
          c = ha.client(m);
          on = m.name;
          c.on('error', () => undefined);
          await c.connect();
        }
        const id = ++next;
        await c.query(`insert into ${table} (id) values ($1)`, [id]);
        acknowledged.push(id);
        // Writes the old primary still acknowledges while it shuts down do not end the failover.
        if (killedAt && !firstAfter && on !== first.name) firstAfter = Date.now();
      } catch {
        failed++;
        await c?.end().catch(() => undefined);
        c = undefined;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await c?.end().catch(() => undefined);
  })();
  await new Promise((r) => setTimeout(r, warmupMs));
  killedAt = Date.now();
  await ha.deleteMember(first, how);
  try {
    await waitFor('a write on the new primary', async () => firstAfter > 0, timeoutMs, 100);
  } finally {
    stopAt = Date.now() + tailMs;
    await writer;
  }
  return { secondsToFirstWrite: (firstAfter - killedAt) / 1000, failedWrites: failed, acknowledged, oldPrimary: first.name };
}
