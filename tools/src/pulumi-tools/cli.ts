/**
 * `npm run pulumi-tools [-- --force]` — builds (or reuses) the Pulumi CLI and the Kubernetes
 * provider plugin from the Go module proxy (build.ts has the steps and paths).
 *
 * Progress: each step prints what it does and, while compiling, a line every 50 packages.
 * Prints per-step seconds and the Go module download size at the end.
 * Flags: `--force` rebuilds even when binaries exist. Exit 1 with the failing command's output,
 * 2 on an unknown flag.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensurePulumiTools } from './build.js';
import { toolPaths } from './tools.js';

const log = (message: string) => console.log(`[pulumi-tools] ${message}`);

let force: boolean;
try {
  ({ values: { force } } = parseArgs({ options: { force: { type: 'boolean', default: false } }, strict: true }) as { values: { force: boolean } });
} catch (error) {
  console.error(`[pulumi-tools] ${error instanceof Error ? error.message : String(error)}\nusage: npm run pulumi-tools [-- --force]`);
  process.exit(2);
}

try {
  const paths = toolPaths();
  const { timings, downloadedBytes } = await ensurePulumiTools({ force, progress: log });
  log(`timings: ${timings.map(([n, s]) => `${n} ${s.toFixed(0)} s`).join(', ')}`);
  log(`Go module downloads this run: ${(downloadedBytes / 2 ** 20).toFixed(0)} MiB (cache ${paths.gomodcache})`);
  log(`CLI: ${join(paths.pulumiRoot, 'bin', 'pulumi')}  PULUMI_HOME: ${paths.pulumiHome}`);
} catch (error) {
  console.error(`[pulumi-tools] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
