/**
 * `npm run synth [-- --env <name>] [--set path=value ...] [--out <dir>]`
 *
 * Synthesizes each environment into `<out>/<env>/` (default `dist/`): one YAML file per
 * Kubernetes object, named `<rank>-<kind>-<name>.yaml` so `kubectl apply -f dist/<env>`
 * applies in dependency order. Every environment is loaded, synthesized and validated in
 * memory first; on any error nothing is written and the exit code is 1 (2 for bad flags).
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { ConfigError, ENVIRONMENT_NAMES, loadEnvironment } from '../charts/environments.js';
import { replaceDirectory } from './lib/atomic-dir.js';
import { formatFindings, validateManifests } from '../charts/validate.js';
import { readManifests } from './lib/manifests.js';
import { ManifestValidationError, renderEnvironment } from './lib/outputs.js';

const USAGE = 'usage: npm run synth -- [--env <local|ibm>]... [--set path=value]... [--out <dir>]';

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        env: { type: 'string', multiple: true },
        set: { type: 'string', multiple: true },
        out: { type: 'string', default: 'dist' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    });
  } catch (error) {
    console.error(`synth: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    console.log(USAGE);
    return 0;
  }
  const names = args.values.env ?? [...ENVIRONMENT_NAMES];
  const outDir = resolve(args.values.out);
  try {
    // Render everything before writing anything.
    const rendered = names.map((name) => renderEnvironment(loadEnvironment(name, { set: args.values.set ?? [] })));
    for (const r of rendered) {
      await replaceDirectory(resolve(outDir, r.environment.name), r.files);
      console.log(`synth: ${r.environment.name}: ${r.files.size} files → ${resolve(outDir, r.environment.name)}`);
    }
    // What `npm run validate` does, on the files as written (proves the YAML round-trips).
    let findings = 0;
    for (const r of rendered) {
      const dir = resolve(outDir, r.environment.name);
      const found = validateManifests(await readManifests(dir));
      findings += found.length;
      if (found.length > 0) console.error(formatFindings(found).replace(/^/gm, `${dir}: `));
    }
    if (findings > 0) return 1;
    console.log(`synth: validated ${rendered.length} environment(s): no findings`);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof ManifestValidationError) {
      console.error(`synth: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main();
