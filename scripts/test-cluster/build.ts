/**
 * Builds (or reuses) the control-plane binaries listed in `versions.ts`.
 *
 * Cache layout (outside the repository, never committed), rooted at `$XDG_CACHE_HOME/expense-tracker`
 * (default `~/.cache/expense-tracker`, override with `EXPENSE_TRACKER_CACHE`):
 * - `bin/<name>-<version>`: the binaries, written atomically (build to a temp name, then rename);
 * - `bin/kwok-<version>.stages.yaml`: kwok's own pod "fast" Stage definitions, exported from the
 *   kwok module source at build time (the launcher adds a readiness delay to them);
 * - `gomod/` and `gocache/`: project-specific GOMODCACHE and GOCACHE, so a cold build is
 *   measurable and CI can cache them.
 *
 * A cached binary is reused only if `<bin> <versionArgs>` prints the expected version, which also
 * proves the mandatory version ldflags were applied (without them Kubernetes reports v0.0.0).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { BINARIES, KWOK_VERSION, type BinarySpec, type ControlPlaneBinary } from './versions.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Wrapper Go modules (go.mod + go.sum) per binary group. */
export const GO_MODULES_DIR = join(HERE, 'go');

/** Root of the project's cache directory (see module docs). */
export function cacheRoot(): string {
  if (process.env.EXPENSE_TRACKER_CACHE) return process.env.EXPENSE_TRACKER_CACHE;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'expense-tracker');
}

export const binDir = (): string => join(cacheRoot(), 'bin');
export const binaryPath = (spec: Pick<BinarySpec, 'name' | 'version'>): string => join(binDir(), `${spec.name}-${spec.version}`);
export const kwokStagesPath = (): string => join(binDir(), `kwok-${KWOK_VERSION}.stages.yaml`);

/** Environment for every `go` invocation: reproducible, static, no toolchain download. */
export function goEnv(): Record<string, string> {
  return {
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
    GOFLAGS: '-trimpath -mod=readonly',
    GOMODCACHE: process.env.EXPENSE_TRACKER_GOMODCACHE ?? join(cacheRoot(), 'gomod'),
    GOCACHE: process.env.EXPENSE_TRACKER_GOCACHE ?? join(cacheRoot(), 'gocache'),
    GOPROXY: process.env.GOPROXY || 'https://proxy.golang.org,direct',
  };
}

export type Progress = (message: string) => void;
/** Default progress sink: one line per event on stderr, prefixed so it stands out in test output. */
export const stderrProgress: Progress = (message) => process.stderr.write(`[test-cluster] ${message}\n`);

export type BinaryPaths = Record<ControlPlaneBinary, string>;

export interface BuildResult {
  paths: BinaryPaths;
  /** Seconds spent building each binary that was missing (absent when reused). */
  built: Partial<Record<ControlPlaneBinary, number>>;
}

/** True when the cached binary exists and reports the expected version. */
async function isUsable(spec: BinarySpec): Promise<boolean> {
  const path = binaryPath(spec);
  if (!existsSync(path)) return false;
  const result = await execa(path, spec.versionCheck.args, { reject: false, all: true, timeout: 30_000 });
  return result.exitCode === 0 && String(result.all).includes(spec.versionCheck.expect);
}

/**
 * Builds one binary with `nice -n 10 go build -v`, reporting compiled-package counts every 15 s.
 * @throws Error with go's output tail when the build fails or the result reports the wrong version.
 */
async function buildBinary(spec: BinarySpec, progress: Progress): Promise<number> {
  const started = Date.now();
  const out = binaryPath(spec);
  const tmp = join(binDir(), `.${spec.name}-${spec.version}.${process.pid}.tmp`);
  mkdirSync(binDir(), { recursive: true });
  progress(`building ${spec.name} ${spec.version} from ${spec.pkg} (cold: several minutes on 2 cores)`);
  let packages = 0;
  let last = '';
  const tail: string[] = [];
  const child = execa('nice', ['-n', '10', 'go', 'build', '-v', '-ldflags', spec.ldflags.join(' '), '-o', tmp, spec.pkg], {
    cwd: join(GO_MODULES_DIR, spec.module),
    env: goEnv(),
    reject: false,
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
  });
  const onLine = (line: string) => {
    if (line.startsWith('go: downloading ')) progress(`  ${spec.name}: ${line.slice(4)}`);
    else packages += 1;
    last = line;
    tail.push(line);
    if (tail.length > 40) tail.shift();
  };
  child.stderr?.setEncoding('utf8');
  let buffered = '';
  child.stderr?.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    lines.forEach(onLine);
  });
  const heartbeat = setInterval(() => {
    const seconds = Math.round((Date.now() - started) / 1000);
    progress(`  ${spec.name}: ${seconds}s, ${packages} packages compiled (last: ${last})`);
  }, 15_000);
  const result = await child.finally(() => clearInterval(heartbeat));
  if (result.exitCode !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`go build ${spec.pkg} failed (exit ${result.exitCode}):\n${tail.join('\n')}`);
  }
  const check = await execa(tmp, spec.versionCheck.args, { reject: false, all: true });
  if (!String(check.all).includes(spec.versionCheck.expect)) {
    rmSync(tmp, { force: true });
    throw new Error(`${spec.name} built but reports "${String(check.all).trim()}", expected "${spec.versionCheck.expect}" (version ldflags?)`);
  }
  renameSync(tmp, out);
  const seconds = (Date.now() - started) / 1000;
  progress(`built ${spec.name} ${spec.version} in ${seconds.toFixed(0)}s -> ${out}`);
  return seconds;
}

/**
 * Exports kwok's own pod Stage definitions (`kustomize/stage/pod/fast/*.yaml` of the kwok module
 * at KWOK_VERSION) to `kwokStagesPath()`, so the launcher can use upstream's templates unchanged
 * apart from an added delay. Needs the kwok module in GOMODCACHE (downloaded if absent).
 */
async function exportKwokStages(progress: Progress): Promise<void> {
  const { stdout: dir } = await execa('go', ['list', '-m', '-f', '{{.Dir}}', 'sigs.k8s.io/kwok'], {
    cwd: join(GO_MODULES_DIR, 'kwok'),
    env: goEnv(),
  });
  if (!dir) throw new Error('go list -m sigs.k8s.io/kwok returned no module directory');
  const stages = ['pod-ready', 'pod-complete', 'pod-delete'].map((name) => readFileSync(join(dir, 'kustomize/stage/pod/fast', `${name}.yaml`), 'utf8'));
  const tmp = `${kwokStagesPath()}.${process.pid}.tmp`;
  writeFileSync(tmp, stages.map((s) => s.trim()).join('\n---\n') + '\n');
  renameSync(tmp, kwokStagesPath());
  progress(`exported kwok ${KWOK_VERSION} pod stages -> ${kwokStagesPath()}`);
}

/**
 * Ensures every binary in `BINARIES` is in the cache, building the missing ones one at a time
 * (never in parallel: the machine has 2 cores).
 * @throws Error naming the binary when `go` is missing or a build fails.
 */
export async function ensureBinaries(progress: Progress = stderrProgress): Promise<BuildResult> {
  const built: BuildResult['built'] = {};
  const paths = {} as BinaryPaths;
  const missing: BinarySpec[] = [];
  for (const spec of BINARIES) {
    paths[spec.name] = binaryPath(spec);
    if (!(await isUsable(spec))) missing.push(spec);
  }
  if (missing.length > 0) {
    const go = await execa('go', ['version'], { reject: false, env: goEnv() });
    if (go.exitCode !== 0) throw new Error(`building ${missing.map((s) => s.name).join(', ')} needs Go on PATH: ${go.stderr || go.message}`);
    progress(`${missing.length} of ${BINARIES.length} binaries missing in ${binDir()} (${go.stdout}); building: ${missing.map((s) => s.name).join(', ')}`);
    for (const spec of missing) built[spec.name] = await buildBinary(spec, progress);
  }
  if (!existsSync(kwokStagesPath())) await exportKwokStages(progress);
  return { paths, built };
}
