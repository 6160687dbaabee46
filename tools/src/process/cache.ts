/**
 * The project's tool cache, shared by every worktree and user of the machine:
 * `$EXPENSE_TRACKER_CACHE`, else `$XDG_CACHE_HOME/expense-tracker`, else `~/.cache/expense-tracker`.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Root of the project's cache directory (absolute). */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EXPENSE_TRACKER_CACHE) return resolve(env.EXPENSE_TRACKER_CACHE);
  return join(env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache'), 'expense-tracker');
}

/** `<cache>/bin`: built binaries, named `<name>-<version>`. */
export const cacheBinDir = (env: NodeJS.ProcessEnv = process.env): string => join(cacheRoot(env), 'bin');
