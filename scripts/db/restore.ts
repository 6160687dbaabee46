/**
 * Point-in-time restore of a Patroni cluster from its pgBackRest repository, as an ordered
 * plan over a small set of cluster operations. `npm run db -- restore` runs the plan with
 * kubectl against a namespace; the database tests run the very same plan against Patroni
 * processes on loopback, so the algorithm is proven where it can be.
 *
 * The plan (Patroni's custom bootstrap, https://patroni.readthedocs.io/en/latest/replica_bootstrap.html):
 *  0. seal the archive while the primary still runs: commit a marker transaction, switch WAL and
 *     wait until it is archived. The archive then holds every commit up to that moment, and a
 *     commit after any earlier target, so recovery always reaches the target. A target later
 *     than the seal is refused before anything is touched (it lies in the future);
 *  1. stop every member (StatefulSet scaled to 0) — nothing may write while the past is restored;
 *  2. remove the cluster's DCS state (ConfigMaps `<scope>-*`), so Patroni sees no cluster;
 *  3. empty every member's data directory (in a freshly deployed environment that is the empty
 *     database its first start created; in place it is the live data, hence the CLI's `--yes`);
 *  4. publish the restore fragment (`patroniRestoreFragment`): bootstrap from pgBackRest up to
 *     the target time, then promote;
 *  5. start member 0 alone and wait until it holds the leader lock and accepts writes. Without a
 *     primary to seal the archive (members down, primary's volume lost), the archive may end
 *     before the target: PostgreSQL then stops with "recovery ended before configured recovery
 *     target was reached". The plan detects that, warns with the archive's last transaction
 *     time, and restores to the end of the archive instead (steps 1-5 again without a target);
 *  6. withdraw the fragment (a later re-bootstrap must not restore again) and take a full
 *     backup: the restore began a new timeline, and the replicas clone from that backup. Cloning
 *     from an older backup would replay the old timeline past the branch point whenever the new
 *     timeline's history file is not archived yet, and such a replica never streams again;
 *  7. start the other members and wait until they stream from the restored primary.
 */
import { patroniRestoreFragment, RECOVERY_TARGET_TIME, type RestoreTarget } from '../../charts/patroni-config.js';

/** Where a bootstrapping member stands (`ClusterOperations.bootstrapState`). */
export type BootstrapState =
  | { readonly state: 'leading' }
  | { readonly state: 'restoring' }
  /** PostgreSQL replayed the whole archive without reaching the target ("recovery ended before configured recovery target was reached"). */
  | { readonly state: 'archive-ended'; /** PostgreSQL's "last completed transaction was at log time …", if logged. */ readonly lastTransaction?: string };

/** What the plan needs from a cluster; each step is idempotent. */
export interface ClusterOperations {
  /** Members (pod names) in ordinal order. */
  readonly members: readonly string[];
  /**
   * If a primary answers: commits a transaction, forces a WAL switch and waits until the archive
   * holds it (`pgbackrest check`).
   * @returns the primary's clock just before that commit (`YYYY-MM-DD HH:MM:SS.ffffff+00`), the
   *   newest restorable time; undefined when no primary answers.
   * @throws Error when a primary answers but the archive cannot be checked (archiving broken).
   */
  sealArchive(): Promise<string | undefined>;
  /** Stops every member and waits until none runs. */
  stopAll(): Promise<void>;
  /** Deletes the Patroni DCS objects of the cluster. */
  deleteDcsState(): Promise<void>;
  /** Empties the data directory (volume) of every member. */
  wipeData(): Promise<void>;
  /** Makes the restore fragment visible to every member (null withdraws it). */
  publishRestoreFragment(fragment: Record<string, unknown> | null): Promise<void>;
  /** Starts the first `count` members (by ordinal). */
  startMembers(count: number): Promise<void>;
  /** Whether `member`, started on an empty data directory, leads (accepts writes), still restores, or ran out of archive. */
  bootstrapState(member: string): Promise<BootstrapState>;
  /** Waits until every member runs and the replicas stream from the leader; throws after `timeoutMs` with what it last saw. */
  waitForReplicas(timeoutMs: number): Promise<void>;
  /** Takes a full backup on the leader. */
  fullBackup(): Promise<void>;
}

/** Options of `restoreCluster`. */
export interface RestoreOptions extends RestoreTarget {
  /** Seconds to wait for the restored leader (WAL replay of a large archive takes a while). @default 1800 */
  readonly leaderTimeoutSeconds?: number;
  /** Seconds to wait for the replicas to clone and stream. @default 1800 */
  readonly replicaTimeoutSeconds?: number;
  /** Seconds between looks at the bootstrapping member. @default 2 */
  readonly pollSeconds?: number;
  /** Progress lines. @default - none */
  readonly progress?: (line: string) => void;
  /** Warnings the operator must read (the restore went to the end of the archive, not the target). @default - progress */
  readonly warn?: (line: string) => void;
}

/** Outcome of a restore. */
export interface RestoreResult {
  /** `target`: exactly the requested time (or the whole archive without one); `end-of-archive`: the archive ended before the target. */
  readonly restoredTo: 'target' | 'end-of-archive';
  /** Newest restorable time when a primary sealed the archive. */
  readonly sealedAt?: string;
  /** Last transaction in the archive, when the restore fell back to its end. */
  readonly lastTransaction?: string;
  /** Seconds from the start of the plan until the restored primary accepted writes (the outage). */
  readonly primaryWritableSeconds: number;
}

/**
 * The archive seal's statement: `txid_current()` gives the transaction an ID, so its commit
 * writes a commit record (stamped after the clock value returned). Its one row's last
 * `|`-separated field is the newest restorable time, `YYYY-MM-DD HH:MM:SS.ffffff+00`.
 */
export const SEAL_SQL = "select txid_current(), to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as sealed_at";

/**
 * Reads a member's log (Patroni with PostgreSQL's own lines) for the end of an archive reached
 * before the recovery target.
 * @returns the `archive-ended` state with the last transaction's time if logged, else undefined.
 */
export function archiveEndedIn(log: string): BootstrapState | undefined {
  if (!log.includes('recovery ended before configured recovery target was reached')) return undefined;
  const times = [...log.matchAll(/last completed transaction was at log time (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}(?::?\d{2})?|Z)?)/g)];
  return { state: 'archive-ended', lastTransaction: times.at(-1)?.[1] };
}

/** Refused before anything was touched: the target lies after the newest restorable time. */
export class RestoreTargetError extends Error {}

/**
 * A `recovery_target_time` as microseconds since the epoch (UTC).
 * @throws Error when `time` does not match RECOVERY_TARGET_TIME.
 */
export function recoveryTimeMicros(time: string): bigint {
  if (!RECOVERY_TARGET_TIME.test(time)) throw new Error(`not a timestamp with a time zone: "${time}"`);
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|([+-])(\d{2}):?(\d{2})?)$/.exec(time)!;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  const fraction = BigInt((m[7] ?? '').padEnd(6, '0'));
  const offsetMinutes = m[8] === 'Z' ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11] ?? 0));
  return (BigInt(ms) - BigInt(offsetMinutes) * 60_000n) * 1000n + fraction;
}

/**
 * Runs the restore plan.
 * @returns where the restore ended (the target, or the end of an archive that ended before it).
 * @throws RestoreTargetError before touching the cluster when the target is later than the
 *   newest restorable time; Error from the step that failed, prefixed with the step; the
 *   fragment is withdrawn if the leader could not be restored, so a retry starts from a clean state.
 */
export async function restoreCluster(ops: ClusterOperations, options: RestoreOptions): Promise<RestoreResult> {
  const say = options.progress ?? (() => undefined);
  const warn = options.warn ?? say;
  const began = Date.now();
  const step = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    say(what);
    try {
      return await run();
    } catch (error) {
      throw new Error(`restore: ${what} failed: ${(error as Error).message}`);
    }
  };
  const first = ops.members[0];
  if (!first) throw new Error('restore: the cluster has no members');
  const target = options.targetTime;
  if (target !== undefined) patroniRestoreFragment({ stanza: options.stanza, targetTime: target });

  const sealedAt = await step('sealing the archive on the primary (marker commit, WAL switch, archived)', () => ops.sealArchive());
  if (sealedAt === undefined) {
    warn('no primary answers: the archive ends with the last WAL segment archiving pushed; commits after it cannot be restored');
  } else if (target !== undefined && recoveryTimeMicros(target) > recoveryTimeMicros(sealedAt)) {
    throw new RestoreTargetError(`restore: --to ${target} is later than the newest restorable time ${sealedAt} (the archive holds every commit up to then); pass --to "${sealedAt}" or an earlier time, or leave --to out to restore everything. Nothing was changed.`);
  }

  const pollMs = (options.pollSeconds ?? 2) * 1000;
  const leaderTimeoutMs = (options.leaderTimeoutSeconds ?? 1800) * 1000;
  /** Steps 1-5 with `targetTime`; the member's final bootstrap state. */
  const bootstrap = async (targetTime: string | undefined): Promise<BootstrapState> => {
    const fragment = patroniRestoreFragment({ stanza: options.stanza, targetTime });
    await step('stopping every member', () => ops.stopAll());
    await step('removing the Patroni DCS state', () => ops.deleteDcsState());
    await step('emptying the members\' data directories', () => ops.wipeData());
    await step(`publishing the restore bootstrap (${targetTime ? `until ${targetTime}` : 'to the end of the archive'})`, () => ops.publishRestoreFragment(fragment));
    try {
      await step(`starting ${first} alone`, () => ops.startMembers(1));
      return await step(`waiting for ${first} to restore, promote and take the leader lock`, async () => {
        const deadline = Date.now() + leaderTimeoutMs;
        let last: BootstrapState = { state: 'restoring' };
        for (;;) {
          last = await ops.bootstrapState(first).catch(() => last);
          if (last.state !== 'restoring') return last;
          if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(leaderTimeoutMs / 1000)} s (still restoring)`);
          await new Promise((r) => setTimeout(r, pollMs));
        }
      });
    } finally {
      await ops.publishRestoreFragment(null);
    }
  };

  let restoredTo: RestoreResult['restoredTo'] = 'target';
  let lastTransaction: string | undefined;
  const outcome = await bootstrap(target);
  if (outcome.state === 'archive-ended') {
    restoredTo = 'end-of-archive';
    lastTransaction = outcome.lastTransaction;
    warn(`the archive ends before ${target}: its last transaction is at ${lastTransaction ?? 'an unknown time (not logged)'}; restoring to the end of the archive instead — commits after that are not in the archive and are lost`);
    const again = await bootstrap(undefined);
    if (again.state !== 'leading') throw new Error(`restore: ${first} did not lead after restoring to the end of the archive (${again.state})`);
  }
  const primaryWritableSeconds = (Date.now() - began) / 1000;
  await step('taking a full backup of the new timeline (the replicas clone from it)', () => ops.fullBackup());
  await step(`starting all ${ops.members.length} members`, () => ops.startMembers(ops.members.length));
  await step('waiting for the replicas to clone the restored primary', () => ops.waitForReplicas((options.replicaTimeoutSeconds ?? 1800) * 1000));
  return { restoredTo, sealedAt, lastTransaction, primaryWritableSeconds };
}
