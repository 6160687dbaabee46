/**
 * Builds (or reuses) the test cluster's binaries listed in `versions.ts`.
 *
 * Cache layout (outside the repository, never committed; root from `cacheRoot()`:
 * `EXPENSE_TRACKER_CACHE`, else `~/.cache/expense-tracker`):
 * - `bin/<name>-<version>[-<variant>]`: the binaries, written atomically (build to a temp name, then rename);
 * - `bin/kwok-<version>.stages.yaml`: kwok's own pod "fast" Stage definitions, exported from the
 *   kwok module source at build time (the launcher adds a readiness delay to them);
 * - `gomod/` and `gocache/`: the project's GOMODCACHE and GOCACHE (see `goEnv`);
 * - `src/go-patched/`, `src/go-modfiles/`: patched dependency copies and the go.mod files that
 *   point at them (see `module-patch.ts`);
 * - `locks/build-<name>-<version>.lock`: held while a binary builds, so two processes sharing the
 *   cache (other worktrees, CI) wait for one build instead of racing on the same output.
 *
 * A cached binary is reused only if `<bin> <versionArgs>` prints the expected version, which also
 * proves the mandatory version ldflags were applied (without them Kubernetes reports v0.0.0).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { cacheBinDir, goBuild, goEnv, runGo, stderrProgress as tagged, withLock, type Progress } from '@expense-tracker/tools/process/index';
import { preparePatchedModfile } from './module-patch.js';
import { BINARIES, KWOK_VERSION, type BinarySpec, type ClusterBinary } from './versions.js';

export type { Progress } from '@expense-tracker/tools/process/index';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Wrapper Go modules (go.mod + go.sum) per binary group. */
export const GO_MODULES_DIR = join(HERE, 'go');

export const binDir = (): string => cacheBinDir();
/** `<bin>/<name>-<version>[-<variant>]`. */
export const binaryPath = (spec: Pick<BinarySpec, 'name' | 'version' | 'variant'>): string => join(binDir(), `${spec.name}-${spec.version}${spec.variant ? `-${spec.variant}` : ''}`);
export const kwokStagesPath = (): string => join(binDir(), `kwok-${KWOK_VERSION}.stages.yaml`);

/** Default progress sink: `[test-cluster] …` lines on stderr. */
export const stderrProgress: Progress = tagged('test-cluster');

export type BinaryPaths = Record<ClusterBinary, string>;

export interface BuildResult {
  /** Paths of the binaries asked for (the others are absent). */
  paths: BinaryPaths;
  /** Wall and CPU seconds (user + system of go and its children) of each binary that was missing (absent when reused). */
  built: Partial<Record<ClusterBinary, { seconds: number; cpuSeconds: number }>>;
}

export interface EnsureOptions {
  progress?: Progress;
  /**
   * Which binaries: the control plane only (`control-plane`), also the real node's (`node`), or
   * also the monitoring stack's (`all`, see `BinarySpec.role`). @default 'all'
   */
  roles?: 'control-plane' | 'node' | 'all';
}

const ROLES_SELECTED: Record<NonNullable<EnsureOptions['roles']>, ReadonlyArray<BinarySpec['role']>> = {
  'control-plane': ['control-plane'],
  node: ['control-plane', 'node'],
  all: ['control-plane', 'node', 'monitoring'],
};

/** The specs `roles` selects, in build order. */
export function selectBinaries(roles: EnsureOptions['roles'] = 'all'): BinarySpec[] {
  return BINARIES.filter((b) => ROLES_SELECTED[roles].includes(b.role));
}

/** True when the cached binary exists and (when it has a version flag) reports the expected version. */
async function isUsable(spec: BinarySpec, path = binaryPath(spec)): Promise<boolean> {
  if (!existsSync(path)) return false;
  if (!spec.versionCheck) return true;
  const result = await execa(path, spec.versionCheck.args, { reject: false, all: true, timeout: 30_000 });
  return result.exitCode === 0 && String(result.all).includes(spec.versionCheck.expect);
}

async function buildBinary(spec: BinarySpec, progress: Progress): Promise<{ seconds: number; cpuSeconds: number }> {
  progress(`building ${spec.name} ${spec.version} from ${spec.pkg} (cold: minutes on 2 cores)`);
  const moduleDir = join(GO_MODULES_DIR, spec.module);
  const patched = spec.patchModules?.length ? await preparePatchedModfile(moduleDir, spec.name, spec.patchModules, progress) : undefined;
  const measured = await goBuild({
    moduleDir,
    modfile: patched?.modfile,
    pkg: spec.pkg,
    output: binaryPath(spec),
    ldflags: spec.ldflags,
    what: spec.name,
    progress,
    verify: async (tmp) => {
      if (spec.versionCheck && !(await isUsable(spec, tmp))) {
        const check = await execa(tmp, spec.versionCheck.args, { reject: false, all: true });
        throw new Error(`${spec.name} built but reports "${String(check.all).trim()}", expected "${spec.versionCheck.expect}" (version ldflags?)`);
      }
    },
  });
  progress(`built ${spec.name} ${spec.version} in ${measured.seconds.toFixed(0)}s (${measured.cpuSeconds.toFixed(0)} CPU-s) -> ${binaryPath(spec)}`);
  return measured;
}

/**
 * Exports kwok's own pod Stage definitions (`kustomize/stage/pod/fast/*.yaml` of the kwok module
 * at KWOK_VERSION) to `kwokStagesPath()`, so the launcher can use upstream's templates unchanged
 * apart from an added delay. Needs the kwok module in GOMODCACHE (downloaded if absent).
 */
async function exportKwokStages(progress: Progress): Promise<void> {
  const dir = (await runGo(['list', '-m', '-f', '{{.Dir}}', 'sigs.k8s.io/kwok'], { cwd: join(GO_MODULES_DIR, 'kwok'), what: 'locate kwok module' })).trim();
  if (!dir) throw new Error('go list -m sigs.k8s.io/kwok returned no module directory');
  const stages = ['pod-ready', 'pod-complete', 'pod-delete'].map((name) => readFileSync(join(dir, 'kustomize/stage/pod/fast', `${name}.yaml`), 'utf8'));
  const tmp = `${kwokStagesPath()}.${process.pid}.tmp`;
  writeFileSync(tmp, stages.map((s) => s.trim()).join('\n---\n') + '\n');
  renameSync(tmp, kwokStagesPath());
  progress(`exported kwok ${KWOK_VERSION} pod stages -> ${kwokStagesPath()}`);
}

/**
 * Ensures every selected binary is in the cache, building the missing ones one at a time (never
 * in parallel: the machine has 2 cores), each under its build lock.
 * @throws Error naming the binary when `go` is missing or a build fails.
 */
export async function ensureBinaries(options: EnsureOptions | Progress = {}): Promise<BuildResult> {
  const { progress = stderrProgress, roles = 'all' } = typeof options === 'function' ? { progress: options } : options;
  const specs = selectBinaries(roles);
  const built: BuildResult['built'] = {};
  const paths = {} as BinaryPaths;
  const missing: BinarySpec[] = [];
  for (const spec of specs) {
    paths[spec.name] = binaryPath(spec);
    if (!(await isUsable(spec))) missing.push(spec);
  }
  if (missing.length > 0) {
    const go = await execa('go', ['version'], { reject: false, env: goEnv() });
    if (go.exitCode !== 0) throw new Error(`building ${missing.map((s) => s.name).join(', ')} needs Go on PATH: ${go.stderr || go.message}`);
    progress(`${missing.length} of ${specs.length} binaries missing in ${binDir()} (${go.stdout}); building: ${missing.map((s) => s.name).join(', ')}`);
    for (const spec of missing) {
      await withLock(`build-${spec.name}-${spec.version}`, async () => {
        // Another process may have built it while this one waited for the lock.
        if (await isUsable(spec)) progress(`${spec.name} ${spec.version} was built by another process`);
        else built[spec.name] = await buildBinary(spec, progress);
      }, { progress });
    }
  }
  if (!existsSync(kwokStagesPath())) await withLock(`export-kwok-stages-${KWOK_VERSION}`, () => exportKwokStages(progress), { progress });
  return { paths, built };
}
