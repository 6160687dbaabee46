/**
 * The two policy scanners of `npm run validate`, installed from package registries and cached:
 *
 * - checkov (PyPI), in a project-local virtualenv `.venv/checkov/` created from
 *   `checkov-requirements.txt` (every transitive dependency pinned by version and hash,
 *   installed with `pip --require-hashes`). The wheels are kept in
 *   `<cache>/checkov/wheels-<lock sha>/`, so a fresh clone on a warm machine installs offline.
 * - kube-score (Go module proxy, `github.com/zegl/kube-score`), built with `go install` into
 *   `<cache>/bin/kube-score-<version>` (GOMODCACHE/GOCACHE under `<cache>`, shared with the
 *   other Go tools).
 *
 * `<cache>` is `$EXPENSE_TRACKER_CACHE`, else `$XDG_CACHE_HOME/expense-tracker`, else
 * `~/.cache/expense-tracker`. A warm `ensureScanners()` costs two `stat`s and one hash of the lock.
 * Installs are serialized with a lock file, so parallel worktrees and test files never race.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import lockfile from 'proper-lockfile';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Repository root (two levels above this file). */
export const REPO_ROOT = join(HERE, '..', '..');

/** checkov release the gate runs (PyPI), pinned with all dependencies in checkov-requirements.txt. */
export const CHECKOV_VERSION = '3.3.30';
/** kube-score release the gate runs (Go module `github.com/zegl/kube-score`). */
export const KUBE_SCORE_VERSION = 'v1.20.0';
const KUBE_SCORE_PACKAGE = 'github.com/zegl/kube-score/cmd/kube-score';

/** Hash-pinned checkov lock file (pip-compile output). */
export const CHECKOV_LOCK = join(HERE, 'checkov-requirements.txt');

export type Progress = (message: string) => void;
/** Default progress sink: one line per step on stderr. */
export const stderrProgress: Progress = (message) => process.stderr.write(`[scanners] ${message}\n`);

/** Root of the machine-wide tool cache (see module docs). */
export function cacheRoot(): string {
  if (process.env.EXPENSE_TRACKER_CACHE) return process.env.EXPENSE_TRACKER_CACHE;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'expense-tracker');
}

/** Where the checkov virtualenv of this checkout lives. */
export function checkovVenv(root: string = REPO_ROOT): string {
  return join(root, '.venv', 'checkov');
}

/** The `checkov` executable inside the virtualenv. */
export function checkovBin(root: string = REPO_ROOT): string {
  return join(checkovVenv(root), 'bin', 'checkov');
}

/** The cached kube-score binary. */
export function kubeScoreBin(): string {
  return join(cacheRoot(), 'bin', `kube-score-${KUBE_SCORE_VERSION}`);
}

/**
 * Python used to create the virtualenv: `$CHECKOV_PYTHON`, else Debian's `/usr/bin/python3`
 * (needs the `python3-venv` package), else `python3` on PATH.
 */
export function pythonExecutable(): string {
  if (process.env.CHECKOV_PYTHON) return process.env.CHECKOV_PYTHON;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** SHA-256 (hex) of the checkov lock file: the virtualenv's identity. */
export function lockDigest(): string {
  return createHash('sha256').update(readFileSync(CHECKOV_LOCK)).digest('hex');
}

const STAMP = '.expense-tracker-lock-sha256';

/** True when the virtualenv exists and was installed from the current lock. */
export function checkovReady(root: string = REPO_ROOT): boolean {
  const stamp = join(checkovVenv(root), STAMP);
  return existsSync(checkovBin(root)) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === lockDigest();
}

async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const dir = join(cacheRoot(), 'locks');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.lock`);
  if (!existsSync(file)) writeFileSync(file, '');
  const release = await lockfile.lock(file, { retries: { retries: 600, minTimeout: 1000, maxTimeout: 2000 }, stale: 30 * 60_000 });
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** Outcome of an ensure step. */
export interface EnsureResult {
  /** Path of the executable. */
  readonly path: string;
  /** Seconds spent installing or building; 0 when the cached copy was reused. */
  readonly seconds: number;
}

/**
 * Creates `.venv/checkov` from the lock unless it is already current. Wheels are downloaded once
 * per lock into the cache (`pip download --require-hashes`), then installed offline
 * (`--no-index --require-hashes`), so a changed lock never mixes with stale packages.
 * @throws Error with pip's output when the venv cannot be created or a package fails to install.
 */
export async function ensureCheckov(progress: Progress = stderrProgress, root: string = REPO_ROOT): Promise<EnsureResult> {
  if (checkovReady(root)) return { path: checkovBin(root), seconds: 0 };
  const lockKey = `checkov-${root.replace(/[^A-Za-z0-9]+/g, '_')}`;
  return withLock(lockKey, async () => {
    if (checkovReady(root)) return { path: checkovBin(root), seconds: 0 };
    const began = Date.now();
    const digest = lockDigest();
    const wheels = join(cacheRoot(), 'checkov', `wheels-${digest.slice(0, 16)}`);
    const pipEnv = { PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1' };
    if (!existsSync(join(wheels, '.complete'))) {
      await withLock('checkov-wheels', async () => {
        if (existsSync(join(wheels, '.complete'))) return;
        progress(`pip download checkov ${CHECKOV_VERSION} and its pinned dependencies → ${wheels} (first time: a few minutes)`);
        mkdirSync(wheels, { recursive: true });
        await run(pythonExecutable(), ['-m', 'pip', 'download', '--quiet', '--require-hashes', '--dest', wheels, '-r', CHECKOV_LOCK], pipEnv);
        writeFileSync(join(wheels, '.complete'), `${digest}\n`);
      });
    }
    const venv = checkovVenv(root);
    progress(`python3 -m venv ${venv}; pip install --no-index --require-hashes (checkov ${CHECKOV_VERSION})`);
    // The stamp is written last: an interrupted install is never mistaken for a ready one.
    rmSync(venv, { recursive: true, force: true });
    try {
      await run(pythonExecutable(), ['-m', 'venv', venv], pipEnv);
      await run(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--no-index', '--find-links', wheels, '--require-hashes', '-r', CHECKOV_LOCK], pipEnv);
    } catch (error) {
      rmSync(venv, { recursive: true, force: true });
      throw error;
    }
    const version = (await execa(checkovBin(root), ['--version'])).stdout.trim();
    if (version !== CHECKOV_VERSION) throw new Error(`checkov --version printed "${version}", expected ${CHECKOV_VERSION}`);
    writeFileSync(join(venv, STAMP), `${digest}\n`);
    const seconds = (Date.now() - began) / 1000;
    progress(`checkov ${CHECKOV_VERSION} ready in ${seconds.toFixed(1)} s`);
    return { path: checkovBin(root), seconds };
  });
}

/**
 * Builds kube-score from the Go module proxy unless the cached binary exists.
 * @throws Error with the go command's output when the build fails (nothing is left behind).
 */
export async function ensureKubeScore(progress: Progress = stderrProgress): Promise<EnsureResult> {
  const target = kubeScoreBin();
  if (existsSync(target)) return { path: target, seconds: 0 };
  return withLock('kube-score', async () => {
    if (existsSync(target)) return { path: target, seconds: 0 };
    const began = Date.now();
    const gobin = join(cacheRoot(), 'bin', `.kube-score-build-${process.pid}`);
    mkdirSync(gobin, { recursive: true });
    progress(`go install ${KUBE_SCORE_PACKAGE}@${KUBE_SCORE_VERSION} (cold: about 4 min of module downloads; warm Go cache: ~1 min)`);
    try {
      await run('nice', ['-n', '10', 'go', 'install', `${KUBE_SCORE_PACKAGE}@${KUBE_SCORE_VERSION}`], {
        GOBIN: gobin,
        GOTOOLCHAIN: 'local',
        CGO_ENABLED: '0',
        GOFLAGS: '-trimpath',
        GOMODCACHE: process.env.EXPENSE_TRACKER_GOMODCACHE ?? join(cacheRoot(), 'gomod'),
        GOCACHE: process.env.EXPENSE_TRACKER_GOCACHE ?? join(cacheRoot(), 'gocache'),
      });
      renameSync(join(gobin, 'kube-score'), target);
    } finally {
      rmSync(gobin, { recursive: true, force: true });
    }
    const seconds = (Date.now() - began) / 1000;
    progress(`kube-score ${KUBE_SCORE_VERSION} built in ${seconds.toFixed(1)} s → ${target}`);
    return { path: target, seconds };
  });
}

/** Installs or reuses both scanners. */
export async function ensureScanners(progress: Progress = stderrProgress): Promise<{ checkov: EnsureResult; kubeScore: EnsureResult }> {
  const checkov = await ensureCheckov(progress);
  const kubeScore = await ensureKubeScore(progress);
  return { checkov, kubeScore };
}

async function run(file: string, args: readonly string[], env: Record<string, string>): Promise<void> {
  const r = await execa(file, args, { env: { ...process.env, ...env }, all: true, reject: false });
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${r.exitCode}):\n${String(r.all).slice(-4000)}`);
}
