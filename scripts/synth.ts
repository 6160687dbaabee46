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
import { ConfigError, ENVIRONMENT_NAMES, loadEnvironment } from '@expense-tracker/model/environment';
import { replaceDirectory } from './lib/atomic-dir.js';
import { type CommandIO, consoleIO } from './lib/command-io.js';
import { ManifestValidationError, renderEnvironment } from './lib/outputs.js';

const USAGE = `usage: npm run synth -- [--env <${ENVIRONMENT_NAMES.join('|')}>]... [--set path=value]... [--out <dir>]`;

/**
 * Runs `synth` with command-line arguments (without `node script`).
 * @returns the exit code: 0 success, 1 invalid config or manifests (nothing written), 2 bad flags.
 */
export async function synthCommand(argv: readonly string[], io: CommandIO = consoleIO): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: [...argv],
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
    io.error(`synth: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.values.help) {
    io.log(USAGE);
    return 0;
  }
  const names = args.values.env ?? [...ENVIRONMENT_NAMES];
  const outDir = resolve(args.values.out);
  try {
    // Render and validate everything in memory before writing anything; `npm run validate`
    // re-reads and re-parses the written files (the tests do too, proving the YAML round-trips).
    const rendered = names.map((name) => renderEnvironment(loadEnvironment(name, { set: args.values.set ?? [] })));
    for (const r of rendered) {
      await replaceDirectory(resolve(outDir, r.environment.name), r.files);
      io.log(`synth: ${r.environment.name}: ${r.files.size} files → ${resolve(outDir, r.environment.name)}`);
    }
    io.log(`synth: validated ${rendered.length} environment(s): no findings`);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof ManifestValidationError) {
      io.error(`synth: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

// No top-level await: `npm run synth` runs this module from a CommonJS bundle (scripts/bundle).
if (import.meta.url === `file://${process.argv[1]}`) void synthCommand(process.argv.slice(2)).then((code) => (process.exitCode = code));
