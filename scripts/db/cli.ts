/**
 * `npm run db -- <command> --env <env> [flags]`: operations on the HA PostgreSQL tier of a
 * deployed environment, through kubectl (the current context, or `--context`).
 *
 *   status                         `patronictl list` in the primary
 *   backup  --type full|diff       run a backup now (a Job from the CronJob) and wait for it
 *   restore [--to <timestamp>] --yes
 *                                  point-in-time restore from the pgBackRest repository into the
 *                                  environment's namespace: in place (the members' volumes are
 *                                  replaced; the old PersistentVolumes stay, Retain policy) or into
 *                                  a freshly deployed environment (another cluster via --context)
 *                                  that points at the same repository
 *
 * `--to` is PostgreSQL's `recovery_target_time` with an explicit zone, e.g.
 * `"2026-11-30 04:47:27+00"`; without it the restore replays the whole archive. A target later
 * than the newest restorable time (the moment the running primary sealed the archive) is refused
 * with that time before anything is touched; when no primary runs and the archive ends before
 * the target, the restore goes to the end of the archive and warns with its last transaction.
 * See docs/database.md for the runbook. Exit code 2 for usage errors and refused targets, 1 for failures.
 */
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { ENVIRONMENT_NAMES, loadEnvironment } from '@expense-tracker/model/environment';
import { POSTGRES_HA } from '@expense-tracker/model/components';
import { RECOVERY_TARGET_TIME } from '../../charts/patroni-config.js';
import { PATRONI_RUN, PATRONI_SOCKET_DIR, PostgresHa } from '../../charts/postgres-ha.js';
import { consoleIO, type CommandIO } from '../lib/command-io.js';
import { archiveEndedIn, restoreCluster, RestoreTargetError, SEAL_SQL, type ClusterOperations } from './restore.js';

const ENVS = `<${ENVIRONMENT_NAMES.join('|')}>`;
const USAGE = [
  `usage: npm run db -- status  --env ${ENVS} [--context <ctx>]`,
  `       npm run db -- backup  --env ${ENVS} --type <full|diff> [--context <ctx>]`,
  `       npm run db -- restore --env ${ENVS} [--to "<YYYY-MM-DD HH:MM:SS+TZ>"] --yes [--context <ctx>]`,
].join('\n');

export class UsageError extends Error {}

/** Parsed command line. */
export interface DbCommand {
  readonly command: 'status' | 'backup' | 'restore';
  readonly env: string;
  readonly context?: string;
  readonly type?: 'full' | 'diff';
  readonly to?: string;
  readonly yes: boolean;
}

/**
 * Parses and checks the arguments.
 * @throws UsageError naming the flag for anything missing, unknown or malformed.
 */
export function parseDbArgs(argv: readonly string[]): DbCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        env: { type: 'string' },
        context: { type: 'string' },
        type: { type: 'string' },
        to: { type: 'string' },
        yes: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { positionals, values } = parsed;
  if (positionals.length !== 1) throw new UsageError(`expected one command (status, backup or restore), got ${positionals.length ? positionals.join(' ') : 'none'}`);
  const command = positionals[0];
  if (command !== 'status' && command !== 'backup' && command !== 'restore') throw new UsageError(`unknown command "${command}"`);
  if (!values.env) throw new UsageError('--env is required');
  if (values.context !== undefined && values.context.trim() === '') throw new UsageError('--context must not be empty');
  if (values.type !== undefined && command !== 'backup') throw new UsageError('--type is only valid with "backup"');
  if (command === 'backup' && values.type !== 'full' && values.type !== 'diff') throw new UsageError(`--type must be "full" or "diff", got ${values.type === undefined ? 'nothing' : `"${values.type}"`}`);
  for (const flag of ['to', 'yes'] as const) {
    if (values[flag] !== undefined && command !== 'restore') throw new UsageError(`--${flag} is only valid with "restore"`);
  }
  if (values.to !== undefined && !RECOVERY_TARGET_TIME.test(values.to)) {
    throw new UsageError(`--to must be a timestamp with a time zone, e.g. "2026-11-30 04:47:27+00", got "${values.to}"`);
  }
  if (command === 'restore' && !values.yes) {
    throw new UsageError('--yes is required for restore: it stops the database and replaces the data of every member');
  }
  return { command, env: values.env, context: values.context, type: values.type as 'full' | 'diff' | undefined, to: values.to, yes: values.yes ?? false };
}

/** A kubectl bound to a namespace and an optional context. */
function kubectl(namespace: string, context?: string) {
  const base = [...(context ? ['--context', context] : []), '--namespace', namespace];
  return async (args: readonly string[], input?: string): Promise<string> => {
    const r = await execa('kubectl', [...base, ...args], { input, reject: false, timeout: 30 * 60_000 });
    if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${String(r.stderr).trim() || String(r.stdout).trim()}`);
    return String(r.stdout);
  };
}

async function poll(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** Cluster operations of the restore plan, with kubectl against the deployed HA tier. */
export async function kubectlOperations(namespace: string, context?: string): Promise<{ ops: ClusterOperations; stanza: string }> {
  const k = kubectl(namespace, context);
  const name = PostgresHa.NAME;
  const configMap = POSTGRES_HA.pgbackrestConfigMapName;
  const conf = JSON.parse(await k(['get', 'configmap', configMap, '-o', 'json']).catch(() => {
    throw new Error(`ConfigMap ${configMap} not found in namespace ${namespace}: is the HA tier with backups deployed there?`);
  })) as { data: Record<string, string> };
  const stanza = /^\[(?!global\])([^\]]+)\]$/m.exec(conf.data['pgbackrest.conf'] ?? '')?.[1];
  if (!stanza) throw new Error(`${configMap} has no stanza section`);
  const sts = JSON.parse(await k(['get', 'statefulset', name, '-o', 'json'])) as { spec: { replicas: number; selector: { matchLabels: Record<string, string> } } };
  // A StatefulSet left at 0 by an interrupted restore: its PVCs still tell how many members it had.
  const claims = (await k(['get', 'pvc', '-o', 'name'])).split('\n').filter((l) => new RegExp(`^persistentvolumeclaim/data-${name}-\\d+$`).test(l.trim())).length;
  const members = sts.spec.replicas > 0 ? sts.spec.replicas : Math.max(claims, 1);
  const selector = Object.entries(sts.spec.selector.matchLabels).map(([a, b]) => `${a}=${b}`).join(',');
  const memberNames = Array.from({ length: members }, (_, i) => `${name}-${i}`);
  const podJson = async (pod: string) => JSON.parse(await k(['get', 'pod', pod, '-o', 'json'])) as { metadata: { labels: Record<string, string> }; status: { conditions?: { type: string; status: string }[] } };
  const ready = (p: Awaited<ReturnType<typeof podJson>>) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const ops: ClusterOperations = {
    members: memberNames,
    stopAll: async () => {
      await k(['scale', `statefulset/${name}`, '--replicas=0']);
      await poll('every member to stop', async () => (await k(['get', 'pods', '-l', selector, '-o', 'name'])).trim() === '', 10 * 60_000);
    },
    deleteDcsState: async () => {
      await k(['delete', 'configmaps', '-l', `cluster-name=${PostgresHa.SCOPE}`, '--ignore-not-found']);
    },
    wipeData: async () => {
      await k(['delete', 'pvc', ...memberNames.map((m) => `data-${m}`), '--ignore-not-found', '--wait']);
    },
    publishRestoreFragment: async (fragment) => {
      if (!fragment) {
        await k(['delete', 'configmap', 'postgres-restore', '--ignore-not-found']);
        return;
      }
      const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'postgres-restore', namespace }, data: { '50-restore.yaml': stringify(fragment) } };
      await k(['apply', '-f', '-'], stringify(cm));
    },
    startMembers: async (count) => {
      await k(['scale', `statefulset/${name}`, `--replicas=${count}`]);
    },
    bootstrapState: async (member) => {
      const p = await podJson(member);
      if (p.metadata.labels.role === 'primary' && ready(p)) return { state: 'leading' };
      // Patroni gives up a failed bootstrap and the container restarts: read the current and the previous run.
      const logs = [await k(['logs', member, '--container', 'postgres']).catch(() => ''), await k(['logs', member, '--container', 'postgres', '--previous']).catch(() => '')].join('\n');
      return archiveEndedIn(logs) ?? { state: 'restoring' };
    },
    waitForReplicas: (timeoutMs) =>
      poll('every member ready (replicas streaming)', async () => {
        for (const m of memberNames) if (!ready(await podJson(m))) return false;
        return true;
      }, timeoutMs),
    sealArchive: async () => {
      const exec = (args: readonly string[]) => k(['exec', `service/${name}`, '--container', 'postgres', '--', PATRONI_RUN, ...args]);
      let sealedAt: string;
      try {
        sealedAt = (await exec(['psql', '-h', PATRONI_SOCKET_DIR, '-U', 'postgres', '-d', 'postgres', '-XAtq', '-c', SEAL_SQL])).trim().split('\n').at(-1)!.split('|').at(-1)!;
      } catch {
        return undefined;
      }
      await exec(['pgbackrest', `--stanza=${stanza}`, 'check']);
      return sealedAt;
    },
    fullBackup: async () => {
      await runBackupJob(k, 'full');
    },
  };
  return { ops, stanza };
}

/** Job conditions `runBackupJob` reads. */
interface JobStatus {
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/**
 * Runs a backup now: a Job from CronJob `postgres-backup-<type>`, as the schedule would, and
 * waits until it completes or fails (`kubectl wait --for=condition=complete` alone would wait out
 * its timeout on a failed Job: backoffLimit spent, or activeDeadlineSeconds passed).
 * @returns the Job's name.
 * @throws Error naming the Job, the reason and the end of its pods' output when it fails.
 */
export async function runBackupJob(k: (args: readonly string[]) => Promise<string>, type: 'full' | 'diff', pollMs = 2000): Promise<string> {
  const job = `${POSTGRES_HA.backupName}-${type}-manual-${Date.now().toString(36)}`;
  await k(['create', 'job', job, `--from=cronjob/${POSTGRES_HA.backupName}-${type}`]);
  for (;;) {
    const conditions = (JSON.parse(await k(['get', 'job', job, '-o', 'json'])) as JobStatus).status?.conditions ?? [];
    if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) return job;
    const failed = conditions.find((c) => c.type === 'Failed' && c.status === 'True');
    if (failed) {
      const logs = (await k(['logs', `job/${job}`, '--tail=20']).catch(() => '')).trim();
      throw new Error(`backup job/${job} failed (${failed.reason ?? 'Failed'}${failed.message ? `: ${failed.message}` : ''})${logs ? `; its output ends with:\n${logs}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Runs `db` with command-line arguments.
 * @returns the process exit code (0 ok, 1 failure, 2 usage).
 */
export async function dbCommand(argv: readonly string[], io: CommandIO = consoleIO): Promise<number> {
  let cmd: DbCommand;
  let namespace: string;
  try {
    cmd = parseDbArgs(argv);
    namespace = loadEnvironment(cmd.env).namespace;
  } catch (error) {
    io.error(`db: ${(error as Error).message}${error instanceof UsageError ? `\n${USAGE}` : ''}`);
    return 2;
  }
  try {
    const k = kubectl(namespace, cmd.context);
    if (cmd.command === 'status') {
      io.log(await k(['exec', `service/${PostgresHa.NAME}`, '--container', 'postgres', '--', 'patronictl', '-c', '/etc/patroni', 'list']));
    } else if (cmd.command === 'backup') {
      const job = await runBackupJob(k, cmd.type!);
      io.log(`db: ${cmd.type} backup done (job/${job})`);
    } else {
      const { ops, stanza } = await kubectlOperations(namespace, cmd.context);
      const result = await restoreCluster(ops, { stanza, targetTime: cmd.to, progress: (l) => io.error(`db restore: ${l}`), warn: (l) => io.error(`db restore: WARNING: ${l}`) });
      const where = result.restoredTo === 'end-of-archive'
        ? `to the END OF THE ARCHIVE (last transaction ${result.lastTransaction ?? 'unknown'}), not to ${cmd.to}`
        : cmd.to ? `to ${cmd.to}` : `to the end of the archive${result.sealedAt ? ` (sealed at ${result.sealedAt})` : ''}`;
      io.log(`db: restored ${namespace} ${where}; primary writable after ${result.primaryWritableSeconds.toFixed(0)} s; new full backup taken, ${ops.members.length} members streaming`);
    }
    return 0;
  } catch (error) {
    io.error(`db: ${(error as Error).message}`);
    return error instanceof RestoreTargetError ? 2 : 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await dbCommand(process.argv.slice(2));
