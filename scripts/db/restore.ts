/**
 * Point-in-time restore of a Patroni cluster from its pgBackRest repository, as an ordered
 * plan over a small set of cluster operations. `npm run db -- restore` runs the plan with
 * kubectl against a namespace; the database tests run the very same plan against Patroni
 * processes on loopback, so the algorithm is proven where it can be.
 *
 * The plan (Patroni's custom bootstrap, https://patroni.readthedocs.io/en/latest/replica_bootstrap.html):
 *  1. stop every member (StatefulSet scaled to 0) — nothing may write while the past is restored;
 *  2. remove the cluster's DCS state (ConfigMaps `<scope>-*`), so Patroni sees no cluster;
 *  3. empty every member's data directory (in a freshly deployed environment that is the empty
 *     database its first start created; in place it is the live data, hence the CLI's `--yes`);
 *  4. publish the restore fragment (`patroniRestoreFragment`): bootstrap from pgBackRest up to
 *     the target time, then promote;
 *  5. start member 0 alone and wait until it holds the leader lock and accepts writes;
 *  6. withdraw the fragment (a later re-bootstrap must not restore again) and start the other
 *     members: they clone the restored primary;
 *  7. take a full backup: the restore began a new timeline and it should have a base backup.
 */
import { patroniRestoreFragment, type RestoreTarget } from '../../charts/patroni-config.js';

/** What the plan needs from a cluster; each step is idempotent. */
export interface ClusterOperations {
  /** Members (pod names) in ordinal order. */
  readonly members: readonly string[];
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
  /** Waits until `member` is the leader and accepts writes; throws after `timeoutMs`. */
  waitForLeader(member: string, timeoutMs: number): Promise<void>;
  /** Waits until every member runs and the replicas stream from the leader. */
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
  /** Progress lines. @default - none */
  readonly progress?: (line: string) => void;
}

/**
 * Runs the restore plan.
 * @throws Error from the step that failed, prefixed with the step; the fragment is withdrawn
 *   if the leader could not be restored, so a retry starts from a clean state.
 */
export async function restoreCluster(ops: ClusterOperations, options: RestoreOptions): Promise<void> {
  const fragment = patroniRestoreFragment({ stanza: options.stanza, targetTime: options.targetTime });
  const say = options.progress ?? (() => undefined);
  const step = async (what: string, run: () => Promise<void>) => {
    say(what);
    try {
      await run();
    } catch (error) {
      throw new Error(`restore: ${what} failed: ${(error as Error).message}`);
    }
  };
  const first = ops.members[0];
  if (!first) throw new Error('restore: the cluster has no members');
  await step('stopping every member', () => ops.stopAll());
  await step('removing the Patroni DCS state', () => ops.deleteDcsState());
  await step('emptying the members\' data directories', () => ops.wipeData());
  await step(`publishing the restore bootstrap (${options.targetTime ? `until ${options.targetTime}` : 'to the end of the archive'})`, () => ops.publishRestoreFragment(fragment));
  try {
    await step(`starting ${first} alone`, () => ops.startMembers(1));
    await step(`waiting for ${first} to restore, promote and take the leader lock`, () => ops.waitForLeader(first, (options.leaderTimeoutSeconds ?? 1800) * 1000));
  } finally {
    await ops.publishRestoreFragment(null);
  }
  await step(`starting all ${ops.members.length} members`, () => ops.startMembers(ops.members.length));
  await step('waiting for the replicas to clone the restored primary', () => ops.waitForReplicas((options.replicaTimeoutSeconds ?? 1800) * 1000));
  await step('taking a full backup of the new timeline', () => ops.fullBackup());
}
