/**
 * `npm run bench:failover [-- --runs 5] [--how terminate|kill] [--size-mib 1024]`
 *
 * Figures of the HA PostgreSQL tier, all in one run on this machine, with Patroni 4 +
 * PostgreSQL 15 members on loopback against the real kube-apiserver of the test control plane
 * (test/database/support/loopback-ha.ts: the construct's Patroni and pgBackRest configuration,
 * its RBAC, Services following the role label) and an S3 repository on moto behind TLS:
 *
 * 1. Failover under writes, `--runs` times: a writer inserts one row per request through
 *    Service `postgres` (reconnecting on errors like the app), the primary is stopped
 *    (`terminate` = SIGTERM as for a deleted pod; `kill` = SIGKILL of Patroni and PostgreSQL as
 *    for a lost node, which waits for the leader TTL), and the old primary rejoins. Prints the
 *    seconds from the stop to the first acknowledged write on the new primary and the failed
 *    writes per failover (min/median/max), and checks no acknowledged write was lost.
 *    Baseline: Patroni's `loop_wait` (the HA loop period), so the ratio says how many HA loops
 *    a failover costs.
 * 2. Backup and restore of a `--size-mib` database: pgBackRest full backup to S3 and a
 *    point-in-time restore with `npm run db -- restore`'s plan (leader restored, replicas
 *    re-cloned, new full backup). Baseline: `pg_basebackup` of the same database to local
 *    disk in the same run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { DEFAULT_PATRONI_TIMING, REPLICATION_USER } from '../charts/patroni-config.js';
import { restoreCluster } from '../scripts/db/restore.js';
import { waitFor } from '@expense-tracker/testkit/test-cluster/kubectl';
import { asPostgres, PG_BIN } from '../test/database/support/patroni-cluster.js';
import { failoverUnderWrites, STANZA, startLoopbackHa } from '../test/database/support/loopback-ha.js';
import { intFlag } from '../scripts/lib/flags.js';

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { min: s[0], median: mid, max: s[s.length - 1] };
};
const fmt = (x: { min: number; median: number; max: number }, digits = 2) => `min ${x.min.toFixed(digits)}  median ${x.median.toFixed(digits)}  max ${x.max.toFixed(digits)}`;
const seconds = async (run: () => Promise<unknown>) => {
  const t = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, how: { type: 'string' }, 'size-mib': { type: 'string' } }, strict: true });
  const runs = intFlag('runs', values.runs, 5, 1, 50);
  const sizeMib = intFlag('size-mib', values['size-mib'], 1024, 16, 16384);
  const how = values.how ?? 'terminate';
  if (how !== 'terminate' && how !== 'kill') throw new Error(`--how must be "terminate" or "kill", got "${how}"`);
  const timing = DEFAULT_PATRONI_TIMING;
  const ha = await startLoopbackHa({ timing });
  try {
    await waitFor('a healthy cluster', ha.healthy, 300_000, 1000);
    let leader = await ha.leaderMember();
    await ha.patroni.pgbackrest(leader, ['stanza-create']);
    await ha.sql(leader, 'create table writes (id integer primary key)');

    const results = [];
    for (let i = 0; i < runs; i++) {
      const run = await failoverUnderWrites(ha, 'writes', how, 3000, 2000, 300_000);
      const now = (await ha.primaryBehindService())!;
      const stored = new Set((await ha.sql<{ id: number }>(now, 'select id from writes')).map((r) => r.id));
      const lost = run.acknowledged.filter((id) => !stored.has(id)).length;
      console.log(`failover ${i + 1}/${runs} (${how}): ${run.oldPrimary} → ${now.name}, first write after ${run.secondsToFirstWrite.toFixed(2)} s, ${run.failedWrites} failed writes, ${run.acknowledged.length} acknowledged, ${lost} lost`);
      if (lost > 0) throw new Error(`${lost} acknowledged writes lost`);
      results.push(run);
      await ha.recreateMember(ha.patroni.member(run.oldPrimary));
      await waitFor('the old primary streaming again', ha.healthy, 300_000, 1000);
    }
    const t = stats(results.map((r) => r.secondsToFirstWrite));
    const f = stats(results.map((r) => r.failedWrites));
    console.log(`\nfailover (${how}, ${runs} runs): seconds to first write  ${fmt(t)}`);
    console.log(`failover (${how}, ${runs} runs): failed writes           ${fmt(f, 0)}`);
    console.log(`ratio median / loop_wait (${timing.loopWaitSeconds} s): ${(t.median / timing.loopWaitSeconds).toFixed(2)}`);

    // Backup and restore of a database of --size-mib.
    leader = await ha.leaderMember();
    const rowBytes = 330; // 4-byte id + 256-character text + tuple overhead
    const rows = Math.ceil((sizeMib * 2 ** 20) / rowBytes);
    console.log(`\nloading ~${sizeMib} MiB (${rows} rows) …`);
    const load = await seconds(async () => {
      await ha.sql(leader, 'create table ballast (id bigint primary key, body text not null)');
      for (let start = 1; start <= rows; start += 500_000) {
        const end = Math.min(rows, start + 499_999);
        await ha.sql(leader, `set statement_timeout = 0; insert into ballast select g, repeat(md5(g::text), 8) from generate_series(${start}, ${end}) g`);
      }
    });
    const [{ size }] = await ha.sql<{ size: string }>(leader, 'select pg_database_size(current_database())::text as size');
    console.log(`loaded ${(Number(size) / 2 ** 20).toFixed(0)} MiB in ${load.toFixed(1)} s`);

    const base = mkdtempSync(join(tmpdir(), 'basebackup-'));
    await execa('chown', ['postgres:', base]);
    let baseline: number;
    try {
      baseline = await seconds(async () => {
        const [cmd, args] = asPostgres(join(PG_BIN, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(leader.pgPort), '-U', REPLICATION_USER, '-D', join(base, 'data'), '-X', 'stream', '-c', 'fast'], { PGPASSWORD: 'loopback-replication' });
        await execa(cmd, args);
      });
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
    const backup = await seconds(() => ha.patroni.pgbackrest(leader, ['--type=full', 'backup']));
    const info = JSON.parse(await ha.patroni.pgbackrest(leader, ['--output=json', 'info']));
    const last = info[0].backup.at(-1);
    console.log(`pg_basebackup to local disk (baseline): ${baseline.toFixed(1)} s`);
    console.log(`pgBackRest full backup to S3:           ${backup.toFixed(1)} s (${(last.info.size / 2 ** 20).toFixed(0)} MiB, ${(last.info.repository.delta / 2 ** 20).toFixed(0)} MiB stored), ratio ${(backup / baseline).toFixed(2)}`);

    const [{ target }] = await ha.sql<{ target: string }>(leader, "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as target");
    await ha.sql(leader, 'select pg_switch_wal()');
    await ha.patroni.pgbackrest(leader, ['check']);
    const began = Date.now();
    const { primaryWritableSeconds: restored } = await restoreCluster(ha.restoreOperations(), { stanza: STANZA, targetTime: target, leaderTimeoutSeconds: 3600, replicaTimeoutSeconds: 3600 });
    const total = (Date.now() - began) / 1000;
    console.log(`point-in-time restore: primary writable after ${restored.toFixed(1)} s (ratio ${(restored / baseline).toFixed(2)} of the baseline backup), all members streaming and a new full backup after ${total.toFixed(1)} s`);
    const [{ count }] = await ha.sql<{ count: string }>(await ha.leaderMember(), 'set statement_timeout = 0; select count(*)::text as count from ballast');
    if (Number(count) !== rows) throw new Error(`restored ${count} rows, expected ${rows}`);
    console.log(`restored rows: ${count} of ${rows}`);
  } finally {
    await ha.stop();
  }
}

await main().catch((error) => {
  console.error(`bench:failover: ${(error as Error).message}`);
  process.exitCode = 1;
});
