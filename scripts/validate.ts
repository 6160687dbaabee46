/**
 * `npm run validate [-- [--no-scanners] <dir>...]`
 *
 * Validates every environment directory under `dist/` (or the given directories): each
 * object against the Kubernetes OpenAPI schema and the project's policy checks, then the
 * policy scanners checkov and kube-score on the files (scripts/scan; installed on first use).
 * `--no-scanners` skips the scanners (schema and policy only: offline and in about a second).
 * Prints one line per finding (`<dir>: Kind/name: field: message`); exits 1 if there is any.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { formatFindings, validateManifests } from '../charts/validate.js';
import { readManifests } from './lib/manifests.js';
import { formatScanFindings, scanDirectory } from './scan/scan.js';
import { type CommandIO, consoleIO } from './lib/command-io.js';

const USAGE = 'usage: npm run validate -- [--no-scanners] [<dir>...]';

async function environmentDirs(args: string[]): Promise<string[]> {
  if (args.length > 0) return args.map((a) => resolve(a));
  const root = resolve('dist');
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.') && e.name !== 'cdk8s').map((e) => join(root, e.name)).sort();
}

/**
 * Runs `validate` on the given directories (default: every `dist/<env>/`).
 * @returns 0 when there is no finding, 1 otherwise, 2 for an unknown flag.
 * @throws Error when a scanner cannot be installed or run (not a finding: the gate could not run).
 */
export async function validateCommand(argv: readonly string[], io: CommandIO = consoleIO): Promise<number> {
  const scanners = !argv.includes('--no-scanners');
  const unknown = argv.find((a) => a.startsWith('-') && a !== '--no-scanners');
  if (unknown) {
    io.error(`validate: unknown flag ${unknown}\n${USAGE}`);
    return 2;
  }
  const dirs = await environmentDirs(argv.filter((a) => !a.startsWith('-')));
  if (dirs.length === 0) {
    io.error('validate: nothing to validate: run `npm run synth` first');
    return 1;
  }
  let problems = 0;
  for (const dir of dirs) {
    if (!(await stat(dir).catch(() => undefined))?.isDirectory()) {
      io.error(`validate: ${dir}: not a directory`);
      problems++;
      continue;
    }
    const objects = await readManifests(dir);
    const findings = validateManifests(objects);
    problems += findings.length;
    if (findings.length > 0) io.error(formatFindings(findings).replace(/^/gm, `${dir}: `));
    const scanned = scanners ? await scanDirectory(dir) : [];
    problems += scanned.length;
    if (scanned.length > 0) io.error(formatScanFindings(scanned).replace(/^/gm, `${dir}: `));
    if (findings.length + scanned.length === 0) {
      io.log(`validate: ${dir}: ${objects.length} objects, no findings (${scanners ? 'schema, policy, checkov, kube-score' : 'schema, policy; scanners skipped'})`);
    }
  }
  return problems > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await validateCommand(process.argv.slice(2));
