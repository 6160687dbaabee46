/**
 * `npm run test-cluster -- <command> [flags]`: a real Kubernetes control plane on loopback.
 *
 *   build            build (or reuse) every binary in versions.ts (control plane and real node)
 *                    into ~/.cache/expense-tracker/bin
 *   up [--nodes N]   start a cluster in --dir and print the shell lines to use it
 *   env              print `export KUBECONFIG=...` and a PATH with the matching kubectl
 *   down             stop every process the cluster in --dir started
 *
 * --dir defaults to `<os temp dir>/expense-tracker-test-cluster`, so `up`, `env` and `down`
 * find the same cluster. Progress goes to stderr; `env` (and `up`'s last lines) go to stdout, so
 * `eval "$(npm run -s test-cluster -- env)"` works. Exit code 2 for usage errors, 1 for failures.
 */
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBinaries, selectBinaries, stderrProgress } from './build.js';
import { DEFAULT_DIR, parse, USAGE, UsageError } from './cli-args.js';
import { readState, startCluster, stopCluster } from './cluster.js';


function envLines(dir: string): string {
  const state = readState(dir);
  return [`export KUBECONFIG=${state.kubeconfig}`, `export PATH="${join(dir, 'bin')}:$PATH"`].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const { command, dir, nodes } = parse(argv);
  switch (command) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    case 'build': {
      const started = Date.now();
      const { paths, built } = await ensureBinaries({ progress: stderrProgress, roles: 'all' });
      for (const spec of selectBinaries('all')) {
        const how = built[spec.name] === undefined ? 'cached' : `built in ${built[spec.name]!.toFixed(0)}s`;
        process.stdout.write(`${spec.name.padEnd(24)} ${spec.version.padEnd(9)} ${how.padEnd(16)} ${paths[spec.name]}\n`);
      }
      process.stdout.write(`total ${((Date.now() - started) / 1000).toFixed(0)}s\n`);
      return;
    }
    case 'up': {
      const cluster = await startCluster({ dir, nodes });
      const binDir = join(dir, 'bin');
      mkdirSync(binDir, { recursive: true });
      rmSync(join(binDir, 'kubectl'), { force: true });
      symlinkSync(cluster.binaries.kubectl, join(binDir, 'kubectl'));
      process.stdout.write(`${envLines(dir)}\n`);
      stderrProgress(`stop it with: npm run test-cluster -- down${dir === DEFAULT_DIR ? '' : ` --dir ${dir}`}`);
      return;
    }
    case 'env':
      process.stdout.write(`${envLines(dir)}\n`);
      return;
    case 'down':
      await stopCluster(dir);
      stderrProgress(`stopped every process of the cluster in ${dir}`);
      return;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`test-cluster: ${error.message}\n${USAGE}\n`);
    process.exit(2);
  }
  process.stderr.write(`test-cluster: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
