/** Command-line grammar of `npm run test-cluster` (see cli.ts), kept apart so it can be unit tested. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** Cluster directory `up`, `env` and `down` use without `--dir`. */
export const DEFAULT_DIR = join(tmpdir(), 'expense-tracker-test-cluster');

export const USAGE = 'usage: test-cluster <build|images|up|env|down> [--dir <path>] [build: --control-plane] [up: --fake-nodes <0-50> --no-real-node --ingress-namespace <name>]';

/** A command-line mistake: the CLI prints it with the usage line and exits 2. */
export class UsageError extends Error {}

export type Command = 'help' | 'build' | 'images' | 'up' | 'env' | 'down';

export interface ParsedArgs {
  command: Command;
  dir: string;
  /** kwok fake nodes (`up --fake-nodes`); undefined: the launcher's default. */
  fakeNodes?: number;
  /** false with `up --no-real-node` (control plane + kwok only). */
  realNode: boolean;
  /** `up --ingress-namespace`; undefined: the launcher's default (`ingress-nginx`). */
  ingressNamespace?: string;
  /** `build --control-plane`: only the control plane's binaries. */
  controlPlaneOnly?: boolean;
}

const COMMANDS: readonly Command[] = ['build', 'images', 'up', 'env', 'down'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Parses the arguments after `test-cluster`.
 * @throws UsageError naming the bad argument.
 */
export function parse(argv: string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        dir: { type: 'string' },
        'fake-nodes': { type: 'string' },
        'no-real-node': { type: 'boolean' },
        'ingress-namespace': { type: 'string' },
        'control-plane': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { positionals, values } = parsed;
  if (values.help) return { command: 'help', dir: '', realNode: true };
  if (positionals.length !== 1) throw new UsageError(`expected exactly one command, got ${positionals.length ? positionals.join(' ') : 'none'}`);
  const command = positionals[0] as Command;
  if (!COMMANDS.includes(command)) throw new UsageError(`unknown command "${command}"`);
  for (const flag of ['fake-nodes', 'no-real-node', 'ingress-namespace'] as const) {
    if (values[flag] !== undefined && command !== 'up') throw new UsageError(`--${flag} is only valid with "up"`);
  }
  if (values['control-plane'] !== undefined && command !== 'build') throw new UsageError('--control-plane is only valid with "build"');
  let fakeNodes: number | undefined;
  if (values['fake-nodes'] !== undefined) {
    fakeNodes = Number(values['fake-nodes']);
    if (!/^\d+$/.test(values['fake-nodes']) || fakeNodes > 50) throw new UsageError(`--fake-nodes must be an integer from 0 to 50, got "${values['fake-nodes']}"`);
  }
  const ingressNamespace = values['ingress-namespace'];
  if (ingressNamespace !== undefined && !DNS_LABEL.test(ingressNamespace)) throw new UsageError(`--ingress-namespace must be a namespace name (DNS label), got "${ingressNamespace}"`);
  if (ingressNamespace !== undefined && values['no-real-node']) throw new UsageError('--ingress-namespace needs the real node (drop --no-real-node)');
  if (values.dir !== undefined && values.dir.trim() === '') throw new UsageError('--dir must not be empty');
  return { command, dir: values.dir ?? DEFAULT_DIR, fakeNodes, realNode: !values['no-real-node'], ingressNamespace, ...(values['control-plane'] ? { controlPlaneOnly: true } : {}) };
}
