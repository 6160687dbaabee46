/**
 * Test-side helpers for the private Docker engine: a lease on the daemon, the stand-in base
 * images, and containers/networks/volumes labelled with this run so they are always removed
 * (in afterAll, and at the next start if a previous run was killed).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Options, Result } from 'execa';
import { acquireEngine, docker, enginePaths, releaseEngine, type EngineLease, type EnginePaths } from '@expense-tracker/tools/docker-engine/engine';
import { ensureBaseImages } from '@expense-tracker/tools/docker-engine/images';

/** Label on every object a test run creates; the value is the test process's PID. */
export const RUN_LABEL = 'org.expense-tracker.test-run';

/** One test file's use of the engine. */
export interface TestEngine {
  readonly paths: EnginePaths;
  readonly lease: EngineLease;
  /** Value of RUN_LABEL for this run. */
  readonly run: string;
  /** Private scratch directory (env files), removed by `teardownEngine`. */
  readonly scratch: string;
}

/** Text output of a docker command. */
export interface DockerResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved. */
  readonly all: string;
}

/**
 * Runs `/usr/bin/docker` against the private engine.
 * @throws execa's error (with stderr) on a non-zero exit unless `reject: false`.
 */
export async function d(args: readonly string[], options: Pick<Options, 'reject' | 'input' | 'env' | 'cwd' | 'timeout'> = {}): Promise<DockerResult> {
  const r: Result = await docker(args, { ...options, all: true }, enginePaths());
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), all: String(r.all ?? '') };
}

/** Whether a process with this PID exists (the owner of a run's objects, a project's test process). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes containers, networks and volumes labelled with `run`, or with a dead run's PID when `run` is undefined. */
export async function removeRunObjects(run?: string): Promise<void> {
  const filter = run ? `label=${RUN_LABEL}=${run}` : `label=${RUN_LABEL}`;
  const fmt = `{{.ID}} {{.Label "${RUN_LABEL}"}}`;
  const pick = (out: unknown) =>
    String(out)
      .split('\n')
      .map((l) => l.trim().split(' '))
      .filter(([id, owner]) => id && (run !== undefined || !pidAlive(Number(owner))))
      .map(([id]) => id!);
  const containers = pick((await d(['ps', '-a', '--filter', filter, '--format', fmt])).stdout);
  if (containers.length) await d(['rm', '--force', '--volumes', ...containers], { reject: false });
  const networks = pick((await d(['network', 'ls', '--filter', filter, '--format', fmt])).stdout);
  if (networks.length) await d(['network', 'rm', ...networks], { reject: false });
  const volumes = (await d(['volume', 'ls', '--quiet', '--filter', filter])).stdout.split('\n').filter(Boolean);
  for (const v of volumes) {
    const owner = (await d(['volume', 'inspect', '--format', `{{index .Labels "${RUN_LABEL}"}}`, v], { reject: false })).stdout;
    if (run !== undefined || !pidAlive(Number(String(owner).trim()))) await d(['volume', 'rm', '--force', v], { reject: false });
  }
}

/**
 * Takes a lease on the engine (starting it if needed), removes objects left by killed runs, and
 * builds any missing or stale stand-in base image (progress on stderr while a cold cache fills).
 */
export async function setupEngine(): Promise<TestEngine> {
  const lease = await acquireEngine();
  try {
    await removeRunObjects();
    await ensureBaseImages();
  } catch (err) {
    await releaseEngine(lease);
    throw err;
  }
  return { paths: lease.paths, lease, run: String(process.pid), scratch: mkdtempSync(join(tmpdir(), 'etk-containers-')) };
}

/** Removes this run's objects and scratch dir, then releases the engine (stopping it if unused). */
export async function teardownEngine(engine: TestEngine | undefined): Promise<void> {
  if (!engine) return;
  try {
    await removeRunObjects(engine.run);
  } finally {
    rmSync(engine.scratch, { recursive: true, force: true });
    await releaseEngine(engine.lease);
  }
}

/**
 * Creates a user-defined bridge network (containers resolve each other by name; ports publish
 * on 127.0.0.1 through docker-proxy) whose Linux bridge is `etkd-<short><pid base36>`.
 * @param short at most 4 characters, unique within the test file.
 */
export async function createNetwork(engine: TestEngine, short: string): Promise<string> {
  const suffix = `${short}${Number(engine.run).toString(36)}`;
  const name = `etk-${suffix}`;
  const bridge = `etkd-${suffix}`.slice(0, 15); // Linux interface names are at most 15 bytes
  await d(['network', 'create', '--driver', 'bridge', '--label', `${RUN_LABEL}=${engine.run}`, '--opt', `com.docker.network.bridge.name=${bridge}`, name]);
  return name;
}

/** Creates a named volume labelled with the run. */
export async function createVolume(engine: TestEngine, short: string): Promise<string> {
  const name = `etk-${short}-${engine.run}`;
  await d(['volume', 'create', '--label', `${RUN_LABEL}=${engine.run}`, name]);
  return name;
}

/** Writes `KEY=value` lines to a 0600 file in the run's scratch dir (secrets never on a command line). */
export function writeEnvFile(engine: TestEngine, name: string, env: Readonly<Record<string, string>>): string {
  const file = join(engine.scratch, name);
  for (const [k, v] of Object.entries(env)) {
    if (/[\n\r]/.test(v)) throw new Error(`env file ${name}: ${k} contains a newline`);
  }
  writeFileSync(file, Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** Options for `runContainer` (each maps to one `docker run` flag). */
export interface RunOptions {
  readonly name: string;
  readonly image: string;
  readonly network?: string;
  /** Extra DNS names on `network`. */
  readonly aliases?: readonly string[];
  readonly envFile?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** `127.0.0.1:<host>:<container>` port pairs. */
  readonly publish?: ReadonlyArray<readonly [number, number]>;
  readonly user?: string;
  readonly readOnly?: boolean;
  readonly tmpfs?: readonly string[];
  readonly capDropAll?: boolean;
  readonly noNewPrivileges?: boolean;
  readonly volumes?: readonly string[];
  readonly entrypoint?: string;
  /** Run in the foreground and remove afterwards (`--rm`, no `-d`); resolves with the result. */
  readonly foreground?: boolean;
  readonly command?: readonly string[];
}

/** `docker run` with this run's label; returns the container ID (or the foreground result). */
export async function runContainer(engine: TestEngine, o: RunOptions): Promise<DockerResult> {
  const args = ['run', o.foreground ? '--rm' : '--detach', '--name', o.name, '--label', `${RUN_LABEL}=${engine.run}`, '--init'];
  if (o.network) args.push('--network', o.network);
  for (const a of o.aliases ?? []) args.push('--network-alias', a);
  if (o.envFile) args.push('--env-file', o.envFile);
  for (const [k, v] of Object.entries(o.env ?? {})) args.push('--env', `${k}=${v}`);
  for (const [h, c] of o.publish ?? []) args.push('--publish', `127.0.0.1:${h}:${c}`);
  if (o.user) args.push('--user', o.user);
  if (o.readOnly) args.push('--read-only');
  for (const t of o.tmpfs ?? []) args.push('--tmpfs', t);
  if (o.capDropAll) args.push('--cap-drop', 'ALL');
  if (o.noNewPrivileges) args.push('--security-opt', 'no-new-privileges');
  for (const v of o.volumes ?? []) args.push('--volume', v);
  if (o.entrypoint !== undefined) args.push('--entrypoint', o.entrypoint);
  args.push(o.image, ...(o.command ?? []));
  return d(args, { reject: !o.foreground });
}

/** `docker exec <container> <command>`; resolves with the result (does not reject). */
export function exec(container: string, command: readonly string[], user?: string): Promise<DockerResult> {
  return d(['exec', ...(user ? ['--user', user] : []), container, ...command], { reject: false });
}

/** Last lines of a container's log, for failure messages. */
export async function logsOf(container: string, lines = 40): Promise<string> {
  return (await d(['logs', '--tail', String(lines), container], { reject: false })).all;
}

/** Polls `check` every 200 ms until truthy; throws `what` (with `detail()` output) after `seconds`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, seconds: number, detail?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const extra = detail ? `\n${await detail()}` : '';
      throw new Error(`timed out after ${seconds} s waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}${extra}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A scratch dir under the OS temp dir (for things not tied to an engine run). */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
