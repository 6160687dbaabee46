/**
 * Long-running child processes that outlive the Node process that started them (a test cluster
 * started by `up` keeps running after the CLI exits): each is its own process-group leader with
 * its output appended to a log file, identified by PID plus the binary it runs (so a reused PID
 * is never signalled), and stopped by signalling its whole group.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { logTail } from './log.js';
import { pollUntil } from './wait.js';

/** What is needed to find and stop a supervised process later (JSON-serializable). */
export interface ProcessRecord {
  name: string;
  pid: number;
  /** Absolute path of the program the process runs (after any `nsenter` prefix has exec'd it). */
  binary: string;
  log: string;
  /** Arguments, prefix and working directory it was started with (so it can be started again, see `relaunch`). */
  args?: readonly string[];
  prefix?: readonly string[];
  cwd?: string;
}

export interface LaunchOptions {
  name: string;
  binary: string;
  args: readonly string[];
  /** Log file; stdout and stderr are appended to it. */
  log: string;
  cwd?: string;
  /** Environment; default: this process's. */
  env?: NodeJS.ProcessEnv;
  /**
   * A command that execs the binary, e.g. `['nsenter', '--net=/run/netns/x', '--']` to run it in
   * a network namespace. It must exec (not fork) so the PID stays the binary's.
   */
  prefix?: readonly string[];
}

/**
 * Starts `binary` detached, as the leader of a new process group, with stdin closed.
 * @throws Error naming the process when it cannot be spawned.
 */
export function launchDetached(options: LaunchOptions): ProcessRecord {
  const fd = openSync(options.log, 'a');
  const [command, ...args] = [...(options.prefix ?? []), options.binary, ...options.args];
  try {
    const child = spawn(command!, args, { detached: true, stdio: ['ignore', fd, fd], cwd: options.cwd, env: options.env });
    if (child.pid === undefined) throw new Error(`could not start ${options.name} (${command})`);
    child.on('error', () => undefined);
    child.unref();
    return { name: options.name, pid: child.pid, binary: options.binary, log: options.log, args: [...options.args], prefix: options.prefix ? [...options.prefix] : undefined, cwd: options.cwd };
  } finally {
    closeSync(fd);
  }
}

/**
 * Starts a stopped process again with the arguments, prefix and directory it was first started
 * with (environment: this process's).
 * @throws Error when the record lacks its arguments (started by an older launcher).
 */
export function relaunch(record: ProcessRecord): ProcessRecord {
  if (!record.args) throw new Error(`${record.name}: no recorded arguments to start it again`);
  return launchDetached({ name: record.name, binary: record.binary, args: record.args, log: record.log, prefix: record.prefix, cwd: record.cwd });
}

/** True while `pid` exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
  } catch {
    return false;
  }
}

/** True when `pid` is alive and runs `binary` (guards against PID reuse). */
export function runsBinary(pid: number, binary: string): boolean {
  if (!processAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === binary;
  } catch {
    return false;
  }
}

/** True when the supervised process still runs its binary. */
export const isRunning = (record: ProcessRecord): boolean => runsBinary(record.pid, record.binary);

/** @throws Error with the tail of its log when the process is no longer running. */
export function assertRunning(record: ProcessRecord): void {
  if (!isRunning(record)) throw new Error(`${record.name} exited; last log lines (${record.log}):\n${logTail(record.log)}`);
}

function signalGroup(record: ProcessRecord, signal: NodeJS.Signals): void {
  try {
    process.kill(-record.pid, signal);
  } catch {
    // group already gone
  }
}

/**
 * Stops the processes newest first: SIGTERM to each process group, SIGKILL to what is still
 * running after `graceMs`. Records that no longer run their binary are skipped. Idempotent.
 * @throws Error listing the processes still alive 5 s after SIGKILL.
 */
export async function stopProcesses(records: readonly ProcessRecord[], graceMs = 10_000): Promise<void> {
  const running = () => records.filter(isRunning);
  for (const r of [...running()].reverse()) signalGroup(r, 'SIGTERM');
  await pollUntil(() => running().length === 0, { timeoutMs: graceMs, intervalMs: 100 });
  for (const r of running()) signalGroup(r, 'SIGKILL');
  await pollUntil(() => running().length === 0, { timeoutMs: 5000, intervalMs: 100 });
  const left = running();
  if (left.length > 0) throw new Error(`still running after SIGKILL: ${left.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`);
}

/** SIGKILLs every group at once without waiting (for `process.on('exit')` handlers). */
export function killNow(records: readonly ProcessRecord[]): void {
  for (const r of records) if (isRunning(r)) signalGroup(r, 'SIGKILL');
}
