/**
 * Cross-process locks in the shared cache (proper-lockfile): several engineers, worktrees and CI
 * share `~/.cache/expense-tracker`, so two builds of the same binary must wait for each other
 * instead of writing the same files. A holder refreshes its lock while it runs; a lock whose
 * holder died goes stale after `staleMs` and is taken over.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { cacheRoot } from './cache.js';
import type { Progress } from './log.js';

export interface LockOptions {
  /** Directory of the lock files. @default `<cache>/locks` */
  dir?: string;
  /** Told once when the lock is busy and this process starts waiting. */
  progress?: Progress;
  /** Give up after this many milliseconds of waiting. @default 3 600 000 (a cold build takes many minutes) */
  waitMs?: number;
  /** A lock not refreshed for this long belongs to a dead holder. @default 60 000 */
  staleMs?: number;
}

/** Lock names become file names: letters, digits, `.`, `_`, `-` only. */
const LOCK_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * Runs `fn` while holding the lock `name`, waiting for another holder first.
 * @throws Error when `name` is not a valid lock name, or when the lock stays busy for `waitMs`.
 */
export async function withLock<T>(name: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  if (!LOCK_NAME.test(name)) throw new Error(`lock name "${name}" must match ${LOCK_NAME}`);
  const dir = options.dir ?? join(cacheRoot(), 'locks');
  mkdirSync(dir, { recursive: true });
  const target = join(dir, `${name}.target`);
  writeFileSync(target, '', { flag: 'a' });
  const staleMs = options.staleMs ?? 60_000;
  const lockOptions = { lockfilePath: join(dir, `${name}.lock`), stale: staleMs, realpath: false };
  const waitMs = options.waitMs ?? 3_600_000;
  const started = Date.now();
  let release: (() => Promise<void>) | undefined;
  let told = false;
  while (!release) {
    try {
      release = await lockfile.lock(target, lockOptions);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
      if (Date.now() - started > waitMs) throw new Error(`lock ${name} still held by another process after ${waitMs / 1000}s (${lockOptions.lockfilePath})`);
      if (!told) options.progress?.(`waiting for another process holding ${name} (${lockOptions.lockfilePath})`);
      told = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
