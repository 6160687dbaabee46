/**
 * Patroni's Kubernetes DCS, synchronous replication, failover, HAProxy's `GET /primary` check
 * and pgBackRest point-in-time restore, proven with real servers before real nodes: Patroni +
 * PostgreSQL 15 processes on loopback against the real kube-apiserver of the test control
 * plane, a ServiceAccount bound to the construct's Role, and an S3 repository on moto behind TLS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaproxyConfig } from '../../haproxy/config-builder.js';
import { addPatroniListen } from '../../haproxy/patroni.js';
import { waitFor } from '@expense-tracker/testkit/test-cluster/kubectl';
import { recoveryTimeMicros, restoreCluster, RestoreTargetError } from '../../scripts/db/restore.js';
import { freePort, waitForPort } from '@expense-tracker/tools/process/ports';
import { failoverUnderWrites, NS, SCOPE, STANZA, startLoopbackHa, type LoopbackHa } from './support/loopback-ha.js';

let ha: LoopbackHa;
let haproxy: ChildProcess | undefined;
let haproxyPort = 0;
let haproxyDir = '';
const started = Date.now();
const progress = (l: string) => process.stderr.write(`[restore +${((Date.now() - started) / 1000).toFixed(0)} s] ${l}\n`);
const nowUtc = "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as t";

/** Port of the PostgreSQL server a connection through HAProxy lands on, and whether it is a primary. */
async function throughHaproxy(): Promise<{ port: number; primary: boolean }> {
  const c = ha.client({ host: '127.0.0.1', port: haproxyPort });
  await c.connect();
  try {
    const { rows } = await c.query<{ port: number; recovery: boolean }>('select inet_server_port() as port, pg_is_in_recovery() as recovery');
    return { port: rows[0].port, primary: !rows[0].recovery };
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  // Shorter than production so a lost node (SIGKILL) fails over within the test's patience.
  ha = await startLoopbackHa({ timing: { ttlSeconds: 20, loopWaitSeconds: 5, retryTimeoutSeconds: 5 } });
  haproxyDir = mkdtempSync(join(tmpdir(), 'haproxy-patroni-'));
  haproxyPort = await freePort();
  const cfg = new HaproxyConfig(['HAProxy in front of loopback Patroni members']);
  cfg.section('global').line('log', ['stderr', 'format', 'raw', 'local0', 'warning']);
  cfg.section('defaults').line('mode', ['tcp']).line('timeout connect', ['2s']).line('log', ['global']);
  addPatroniListen(cfg, {
    name: 'postgres',
    bind: `127.0.0.1:${haproxyPort}`,
    members: ha.patroni.members.map((m) => ({ name: m.name, host: '127.0.0.1', postgresPort: m.pgPort, apiPort: m.apiPort })),
    healthCheck: { intervalSeconds: 1, fall: 2, rise: 1 },
  });
  writeFileSync(join(haproxyDir, 'haproxy.cfg'), cfg.render());
  haproxy = spawn(process.env.HAPROXY ?? '/usr/sbin/haproxy', ['-db', '-f', join(haproxyDir, 'haproxy.cfg')], { stdio: 'ignore' });
  await waitForPort(haproxyPort, '127.0.0.1', 10_000);
});

afterAll(async () => {
  if (haproxy && haproxy.exitCode === null) {
    const exited = new Promise((r) => haproxy!.once('exit', r));
    haproxy.kill('SIGTERM');
    await exited;
  }
  if (haproxyDir) rmSync(haproxyDir, { recursive: true, force: true });
  await ha?.stop();
});

describe('Patroni on the Kubernetes API (loopback members, real kube-apiserver)', () => {
  it('elects one leader with a synchronous standby; the role-label Services and HAProxy agree with patronictl', async () => {
    const rows = await waitFor('a leader, a sync standby and a streaming replica', ha.healthy, 180_000, 1000);
    const leader = rows.find((r) => r.Role === 'Leader')!.Member;
    const replicas = rows.filter((r) => r.Role !== 'Leader').map((r) => r.Member).sort();
    await waitFor('Service endpoints following the role labels', async () => {
      const [primary, standby] = [await ha.endpointsOf('postgres'), await ha.endpointsOf('postgres-replicas')];
      return JSON.stringify(primary) === JSON.stringify([leader]) && JSON.stringify(standby) === JSON.stringify(replicas);
    }, 30_000);
    const cms = await ha.cluster.kubectl.json<{ items: { metadata: { name: string } }[] }>(['-n', NS, 'get', 'configmaps', '-l', `cluster-name=${SCOPE}`]);
    expect(cms.items.map((c) => c.metadata.name)).toEqual(expect.arrayContaining([`${SCOPE}-config`, `${SCOPE}-leader`, `${SCOPE}-sync`]));
    const settings = await ha.sql(ha.patroni.member(leader), "select name, setting from pg_settings where name in ('synchronous_standby_names','archive_mode')");
    const sync = rows.find((r) => r.Role === 'Sync Standby')!.Member;
    expect(Object.fromEntries(settings.map((s) => [s.name, s.setting]))).toMatchObject({ archive_mode: 'on', synchronous_standby_names: expect.stringContaining(sync) });
    await waitFor('HAProxy routing to the leader', async () => (await throughHaproxy()).port === ha.patroni.member(leader).pgPort, 15_000, 500);
    expect((await throughHaproxy()).primary).toBe(true);
  });

  it('archives WAL to S3 and takes a full backup', async () => {
    const leader = await ha.leaderMember();
    await ha.patroni.pgbackrest(leader, ['stanza-create']);
    await ha.patroni.pgbackrest(leader, ['check']);
    await ha.patroni.pgbackrest(leader, ['--type=full', 'backup']);
    const info = JSON.parse(await ha.patroni.pgbackrest(leader, ['--output=json', 'info']));
    expect(info[0].status.message).toBe('ok');
    expect(info[0].backup.map((b: { type: string }) => b.type)).toEqual(['full']);
  });

  it('a deleted primary fails over under a stream of writes without losing an acknowledged write', async () => {
    const first = (await ha.primaryBehindService())!;
    await ha.sql(first, 'create table writes (id integer primary key, at timestamptz not null default clock_timestamp())');
    const run = await failoverUnderWrites(ha, 'writes', 'terminate');
    process.stderr.write(`[patroni-loopback] SIGTERM failover: first write after ${run.secondsToFirstWrite.toFixed(2)} s, ${run.failedWrites} failed writes, ${run.acknowledged.length} acknowledged\n`);
    const now = (await ha.primaryBehindService())!;
    expect(now.name).not.toBe(run.oldPrimary);
    expect(run.acknowledged.length).toBeGreaterThan(0);
    const stored = new Set((await ha.sql<{ id: number }>(now, 'select id from writes')).map((r) => r.id));
    expect(run.acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    expect(run.secondsToFirstWrite).toBeLessThan(30);
    await waitFor('HAProxy following the new leader', async () => (await throughHaproxy()).port === now.pgPort, 15_000, 500);

    // The StatefulSet recreates the pod: the old primary rejoins as a replica (pg_rewind if needed).
    await ha.recreateMember(ha.patroni.member(run.oldPrimary));
    await waitFor('the old primary streaming again', ha.healthy, 180_000, 1000);
  });

  it('a lost node (SIGKILL of Patroni and PostgreSQL) fails over after the leader TTL, still without losing an acknowledged write', async () => {
    const run = await failoverUnderWrites(ha, 'writes', 'kill');
    process.stderr.write(`[patroni-loopback] SIGKILL failover: first write after ${run.secondsToFirstWrite.toFixed(2)} s, ${run.failedWrites} failed writes, ${run.acknowledged.length} acknowledged\n`);
    const now = (await ha.primaryBehindService())!;
    const stored = new Set((await ha.sql<{ id: number }>(now, 'select id from writes')).map((r) => r.id));
    expect(run.acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    await ha.recreateMember(ha.patroni.member(run.oldPrimary));
    await waitFor('the killed member streaming again', ha.healthy, 180_000, 1000);
  });

  it('restores to a point in time: rows up to the target come back, later rows do not', async () => {
    let leader = await ha.leaderMember();
    await ha.patroni.pgbackrest(leader, ['--type=diff', 'backup']);
    await ha.sql(leader, 'create table ledger (id integer primary key, at timestamptz not null default clock_timestamp())');
    await ha.sql(leader, 'insert into ledger (id) select generate_series(1, 500)');
    await new Promise((r) => setTimeout(r, 1100));
    const [{ target }] = await ha.sql<{ target: string }>(leader, "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as target");
    await new Promise((r) => setTimeout(r, 1100));
    await ha.sql(leader, 'insert into ledger (id) select generate_series(501, 800)');
    // The WAL with the later rows is archived too: the restore must stop before it, not run out of WAL.
    await ha.sql(leader, 'select pg_switch_wal()');
    await ha.patroni.pgbackrest(leader, ['check']);
    await ha.sql(leader, 'drop table ledger');

    const result = await restoreCluster(ha.restoreOperations(), { stanza: STANZA, targetTime: target, leaderTimeoutSeconds: 300, replicaTimeoutSeconds: 300, progress });
    expect(result.restoredTo).toBe('target');
    process.stderr.write(`[restore] primary writable after ${result.primaryWritableSeconds.toFixed(1)} s\n`);

    leader = await ha.leaderMember();
    const [{ count, max }] = await ha.sql<{ count: string; max: number }>(leader, 'select count(*), max(id) from ledger');
    expect(Number(count)).toBe(500);
    expect(max).toBe(500);
    // The restored primary takes writes and replicates them synchronously again.
    await ha.sql(leader, 'insert into ledger (id) values (501)');
    const standby = (await ha.patroni.list()).find((r) => r.Role === 'Sync Standby')!;
    await waitFor('the new row on the sync standby', async () => (await ha.sql(ha.patroni.member(standby.Member), 'select 1 from ledger where id = 501')).length === 1, 30_000);
    const info = JSON.parse(await ha.patroni.pgbackrest(leader, ['--output=json', 'info']));
    expect(info[0].backup.at(-1).type).toBe('full');
  });

  it('refuses a target later than the newest restorable time before touching anything, naming that time', async () => {
    const leader = await ha.leaderMember();
    const [{ t }] = await ha.sql<{ t: string }>(leader, "select to_char((clock_timestamp() + interval '1 hour') at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as t");
    const restore = restoreCluster(ha.restoreOperations(), { stanza: STANZA, targetTime: t, progress });
    await expect(restore).rejects.toThrow(RestoreTargetError);
    await expect(restore).rejects.toThrow(/later than the newest restorable time \d{4}-\d{2}-\d{2} [\d:.]+\+00 .*Nothing was changed/);
    expect(await ha.healthy()).toBeDefined();
    expect((await ha.leaderMember()).name).toBe(leader.name);
  });

  it('restores to a target after the last commit (the running primary seals the archive first)', async () => {
    let leader = await ha.leaderMember();
    await ha.sql(leader, 'insert into ledger (id) select generate_series(502, 600)');
    await new Promise((r) => setTimeout(r, 1100));
    // No commit follows the target: only the seal's marker commit lets recovery reach it.
    const [{ t: target }] = await ha.sql<{ t: string }>(leader, nowUtc);
    const result = await restoreCluster(ha.restoreOperations(), { stanza: STANZA, targetTime: target, leaderTimeoutSeconds: 300, replicaTimeoutSeconds: 300, progress });
    expect(result).toMatchObject({ restoredTo: 'target', sealedAt: expect.stringMatching(/\+00$/) });
    leader = await ha.leaderMember();
    expect((await ha.sql<{ count: string }>(leader, 'select count(*) from ledger'))[0].count).toBe('600');
  });

  it('with no primary left, an archive that ends before the target is restored to its end, with a warning naming its last transaction', async () => {
    const leader = await ha.leaderMember();
    await ha.sql(leader, 'insert into ledger (id) select generate_series(601, 700)');
    const [{ t: lastCommit }] = await ha.sql<{ t: string }>(leader, nowUtc);
    await ha.sql(leader, 'select pg_switch_wal()');
    await ha.patroni.pgbackrest(leader, ['check']);
    const ops = ha.restoreOperations();
    await ops.stopAll(); // every member lost: nothing can seal the archive
    await new Promise((r) => setTimeout(r, 1100));
    const target = new Date().toISOString(); // e.g. 2026-11-30T12:00:00.123Z
    const warnings: string[] = [];
    const result = await restoreCluster(ops, { stanza: STANZA, targetTime: target, leaderTimeoutSeconds: 300, replicaTimeoutSeconds: 300, progress, warn: (l) => (warnings.push(l), progress(`WARNING: ${l}`)) });
    expect(result.restoredTo).toBe('end-of-archive');
    expect(result.lastTransaction).toBeDefined();
    // The last transaction in the archive is the last insert, committed just before `lastCommit` was read.
    expect(recoveryTimeMicros(result.lastTransaction!)).toBeLessThanOrEqual(recoveryTimeMicros(lastCommit));
    expect(recoveryTimeMicros(result.lastTransaction!)).toBeGreaterThan(recoveryTimeMicros(lastCommit) - 10_000_000n);
    expect(warnings.join('\n')).toMatch(new RegExp(`archive ends before ${target.replace(/[.+]/g, '\\$&')}: its last transaction is at `));
    const now = await ha.leaderMember();
    expect((await ha.sql<{ count: string }>(now, 'select count(*) from ledger'))[0].count).toBe('700');
  });
});
