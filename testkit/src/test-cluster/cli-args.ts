/** Command-line grammar of `npm run test-cluster` (see cli.ts), kept apart so it can be unit tested. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** Cluster directory `up`, `env` and `down` use without `--dir`. */
export const DEFAULT_DIR = join(tmpdir(), 'expense-tracker-test-cluster');

export const USAGE = 'usage: test-cluster <build|up|down|env> [--dir <path>] [--nodes <1-50>]';

/** A command-line mistake: the CLI prints it with the usage line and exits 2. */
export class UsageError extends Error {}

/**
 * Parses the arguments after `test-cluster`.
 * @throws UsageError naming the bad argument.
 */
export function parse(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { dir: { type: 'string' }, nodes: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { positionals, values } = parsed;
  if (values.help) return { command: 'help' as const, dir: '', nodes: 3 };
  if (positionals.length !== 1) throw new UsageError(`expected exactly one command, got ${positionals.length ? positionals.join(' ') : 'none'}`);
  const command = positionals[0];
  if (command !== 'build' && command !== 'up' && command !== 'down' && command !== 'env') throw new UsageError(`unknown command "${command}"`);
  let nodes = 3;
  if (values.nodes !== undefined) {
    if (command !== 'up') throw new UsageError('--nodes is only valid with "up"');
    nodes = Number(values.nodes);
    if (!/^\d+$/.test(values.nodes) || nodes < 1 || nodes > 50) throw new UsageError(`--nodes must be an integer from 1 to 50, got "${values.nodes}"`);
  }
  if (values.dir !== undefined && values.dir.trim() === '') throw new UsageError('--dir must not be empty');
  const dir = values.dir ?? DEFAULT_DIR;
  return { command, dir, nodes };
}

