/**
 * Building Go programs from the Go module proxy into the shared cache: one environment for every
 * `go` command (project-specific module and build caches, static binaries, no toolchain
 * download, go.sum enforced) and one build routine with progress while a cold cache fills.
 */
import { renameSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { cacheRoot } from './cache.js';
import { LineTail, onLines, type Progress } from './log.js';

/**
 * Environment of every `go` invocation. `GOMODCACHE`/`GOCACHE` default to `<cache>/gomod` and
 * `<cache>/gocache` (override with `EXPENSE_TRACKER_GOMODCACHE`/`EXPENSE_TRACKER_GOCACHE`); the
 * Go build cache is safe to share between concurrent builds.
 */
export function goEnv(extra: Record<string, string> = {}, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
    GOFLAGS: '-trimpath -mod=readonly',
    GOMODCACHE: env.EXPENSE_TRACKER_GOMODCACHE ?? join(cacheRoot(env), 'gomod'),
    GOCACHE: env.EXPENSE_TRACKER_GOCACHE ?? join(cacheRoot(env), 'gocache'),
    GOPROXY: env.GOPROXY || 'https://proxy.golang.org,direct',
    ...extra,
  };
}

export interface RunGoOptions {
  /** Module directory to run in. */
  cwd: string;
  /** Names the step in progress and error messages. */
  what: string;
  progress?: Progress;
  /** Added to `goEnv()`. */
  env?: Record<string, string>;
  /** Progress heartbeat interval in milliseconds. @default 15 000 */
  heartbeatMs?: number;
}

/** Marks the line bash's `time` prints after go exits (user and system CPU time of go and every compiler and linker it ran). */
const CPU_MARK = '@etk-cpu ';

/**
 * Parses bash's `time` report in `%lU %lS` format (`1m2.500s 0m3.250s`) into seconds.
 * @returns user + system seconds, or undefined for any other line.
 */
export function parseTimes(line: string): number | undefined {
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(line.trim());
  if (!m) return undefined;
  return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
}

export interface GoRun {
  stdout: string;
  /** Wall-clock seconds. */
  seconds: number;
  /**
   * CPU seconds (user + system) of go and all its children (compile, asm, link): the build's
   * cost independent of how busy the machine is. On an idle 2-core machine the wall time of a
   * cold build is about half of this plus the serial link steps.
   */
  cpuSeconds: number;
}

/**
 * Runs `nice -n 10 go <args>`, reporting module downloads and, every `heartbeatMs`, the number
 * of packages compiled so far (lines of `-v` output).
 * @returns go's stdout, wall and CPU seconds.
 * @throws Error with the last 40 lines of go's output when it exits non-zero.
 */
export async function runGoMeasured(args: readonly string[], options: RunGoOptions): Promise<GoRun> {
  const started = Date.now();
  const tail = new LineTail(40);
  let packages = 0;
  let last = '';
  let cpuSeconds = 0;
  // bash's `time` reports the user and system time of the command and the children it waited
  // for (go and its tools), on the shell's stderr. (`times` in a pipeline runs in a subshell and
  // reports zero.)
  const script = `TIMEFORMAT='${CPU_MARK}%lU %lS'; time nice -n 10 go "$@"`;
  const child = execa('bash', ['-c', script, 'go', ...args], { cwd: options.cwd, env: goEnv(options.env), reject: false, buffer: { stdout: true, stderr: false }, stderr: 'pipe' });
  onLines(child.stderr, (line) => {
    if (line.startsWith(CPU_MARK)) {
      cpuSeconds = parseTimes(line.slice(CPU_MARK.length)) ?? 0;
      return;
    }
    tail.push(line);
    if (line.startsWith('go: downloading ')) options.progress?.(`  ${options.what}: ${line.slice(4)}`);
    else {
      packages += 1;
      last = line;
    }
  });
  const heartbeat = setInterval(() => {
    options.progress?.(`  ${options.what}: ${Math.round((Date.now() - started) / 1000)}s, ${packages} packages compiled (last: ${last})`);
  }, options.heartbeatMs ?? 15_000);
  const result = await child.finally(() => clearInterval(heartbeat));
  if (result.exitCode !== 0) throw new Error(`${options.what} failed (go ${args.join(' ')}, exit ${result.exitCode}):\n${tail}`);
  return { stdout: String(result.stdout ?? ''), seconds: (Date.now() - started) / 1000, cpuSeconds };
}

/** `runGoMeasured` when only go's stdout matters. */
export async function runGo(args: readonly string[], options: RunGoOptions): Promise<string> {
  return (await runGoMeasured(args, options)).stdout;
}

export interface GoBuildOptions {
  /** Module directory (a wrapper module's go.mod + go.sum). */
  moduleDir: string;
  /** Alternate go.mod (`go build -modfile`; its go.sum beside it). @default moduleDir's go.mod */
  modfile?: string;
  /** Main package to build (`.` or an import path). */
  pkg: string;
  /** Final path of the binary; written atomically (temp file, then rename). */
  output: string;
  ldflags?: readonly string[];
  tags?: readonly string[];
  what: string;
  progress?: Progress;
  env?: Record<string, string>;
  /** Called with the temp binary before it is renamed into place; throw to reject it. */
  verify?: (binary: string) => Promise<void>;
}

/**
 * `go build -v` of one main package to `output` (atomically), with progress.
 * @returns wall and CPU seconds of the build.
 * @throws Error from `runGo` or `verify`; nothing is left at `output` then.
 */
export async function goBuild(options: GoBuildOptions): Promise<Omit<GoRun, 'stdout'>> {
  mkdirSync(dirname(options.output), { recursive: true });
  const tmp = `${options.output}.${process.pid}.tmp`;
  const args = ['build', '-v', '-o', tmp];
  if (options.modfile) args.push(`-modfile=${options.modfile}`);
  if (options.tags?.length) args.push('-tags', options.tags.join(','));
  if (options.ldflags?.length) args.push('-ldflags', options.ldflags.join(' '));
  args.push(options.pkg);
  try {
    const { seconds, cpuSeconds } = await runGoMeasured(args, { cwd: options.moduleDir, what: options.what, progress: options.progress, env: options.env });
    await options.verify?.(tmp);
    renameSync(tmp, options.output);
    return { seconds, cpuSeconds };
  } finally {
    rmSync(tmp, { force: true });
  }
}
