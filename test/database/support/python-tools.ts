/**
 * Python tools of the database tier, installed from PyPI into virtual environments under
 * `/var/cache/expense-tracker/python/<name>-<hash>` (outside the repository, shared by
 * worktrees; not under ~/.cache because Patroni runs as the `postgres` OS user, which cannot
 * enter root's home directory):
 *
 * - `patroni`: `patroni[kubernetes,etcd3,psycopg2-binary]` 4.x, the same release the stand-in image
 *   installs (test/images/patroni/requirements.txt is the one home of the pins);
 * - `moto`: moto's standalone S3-compatible server (`moto_server`), the object store the
 *   pgBackRest repository lives in during tests.
 *
 * The directory name carries a SHA-256 of the requirements, so a changed pin builds a fresh
 * environment and an unchanged one costs a `stat`. Builds are serialized by a lock file, so
 * parallel test files and worktrees never race on the same environment.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import lockfile from 'proper-lockfile';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Pinned requirements of the Patroni image; the host environment installs exactly these. */
export const PATRONI_REQUIREMENTS = join(REPO_ROOT, 'test', 'images', 'patroni', 'requirements.txt');
/** moto with the extras its standalone server needs for S3 (pinned). */
const MOTO_REQUIREMENTS = ['moto[s3,server]==5.2.5'];
/** Debian's interpreter: the image uses the same one (python3 3.11 from bookworm). */
const PYTHON = '/usr/bin/python3';

/** Root of the Python tool cache (world-readable: the `postgres` user runs Patroni from it). */
export function cacheRoot(): string {
  return process.env.EXPENSE_TRACKER_PYTHON_CACHE ?? '/var/cache/expense-tracker';
}

function progress(message: string): void {
  process.stderr.write(`[python-tools] ${message}\n`);
}

/**
 * Ensures a virtual environment with exactly `requirements` and returns its directory.
 * @throws Error with pip's output tail when an install fails (the partial environment is removed).
 */
async function ensureVenv(name: string, requirements: readonly string[]): Promise<string> {
  const key = createHash('sha256').update(requirements.join('\n')).digest('hex').slice(0, 12);
  const root = join(cacheRoot(), 'python');
  const dir = join(root, `${name}-${key}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  mkdirSync(root, { recursive: true, mode: 0o755 });
  const release = await lockfile.lock(root, { lockfilePath: join(root, `${name}.lock`), retries: { retries: 1200, minTimeout: 500, maxTimeout: 1000 }, stale: 60_000 });
  try {
    if (existsSync(join(dir, '.complete'))) return dir;
    // No `.complete` marker: an interrupted earlier install; start over.
    rmSync(dir, { recursive: true, force: true });
    progress(`creating ${name} virtual environment (${requirements.join(', ')}): about a minute from PyPI`);
    try {
      await execa(PYTHON, ['-m', 'venv', dir]);
      await execa(join(dir, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...requirements], { all: true });
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pip install for ${name} failed: ${(error as { all?: string }).all?.slice(-3000) ?? String(error)}`);
    }
    writeFileSync(join(dir, '.complete'), `${requirements.join('\n')}\n`);
    return dir;
  } finally {
    await release();
  }
}

/** Requirement lines of test/images/patroni/requirements.txt (comments dropped). */
export function patroniRequirements(): string[] {
  return readFileSync(PATRONI_REQUIREMENTS, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

/** Paths of `patroni` and `patronictl` in the shared environment (built on first use). */
export async function ensurePatroni(): Promise<{ patroni: string; patronictl: string }> {
  const dir = await ensureVenv('patroni', patroniRequirements());
  return { patroni: join(dir, 'bin', 'patroni'), patronictl: join(dir, 'bin', 'patronictl') };
}

/** Path of `moto_server` in the shared environment (built on first use). */
export async function ensureMotoServer(): Promise<string> {
  const dir = await ensureVenv('moto', MOTO_REQUIREMENTS);
  return join(dir, 'bin', 'moto_server');
}
