/**
 * `npm run test-cluster -- <command> [flags]`: a real single-node Kubernetes (plus optional kwok
 * fake nodes) on this machine.
 *
 *   build    build (or reuse) every binary in versions.ts into ~/.cache/expense-tracker/bin
 *            (--control-plane: only etcd, the Kubernetes control plane, kubectl and kwok)
 *   images   build the app image and the stand-in and component images, push them to the
 *            registry storage the nodes pull from
 *   up       start a cluster in --dir and print the shell lines to use it
 *            (--fake-nodes N, --no-real-node, --ingress-namespace NS)
 *   env      print `export KUBECONFIG=...`, a PATH with the matching kubectl, and INGRESS_URL
 *   down     stop the cluster in --dir and remove everything it changed on the host
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
import { appImageReferences, ensureClusterImages } from './node/images.js';

function envLines(dir: string): string {
  const state = readState(dir);
  return [
    `export KUBECONFIG=${state.kubeconfig}`,
    `export PATH="${join(dir, 'bin')}:$PATH"`,
    ...(state.ingressUrl ? [`export INGRESS_URL=${state.ingressUrl}`] : []),
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const args = parse(argv);
  const { command, dir } = args;
  switch (command) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    case 'build': {
      const started = Date.now();
      const roles = args.controlPlaneOnly ? 'control-plane' : 'all';
      const { paths, built } = await ensureBinaries({ progress: stderrProgress, roles });
      for (const spec of selectBinaries(roles)) {
        const b = built[spec.name];
        const how = b === undefined ? 'cached' : `built in ${b.seconds.toFixed(0)}s, ${b.cpuSeconds.toFixed(0)} CPU-s`;
        process.stdout.write(`${spec.name.padEnd(24)} ${spec.version.padEnd(9)} ${how.padEnd(30)} ${paths[spec.name]}\n`);
      }
      process.stdout.write(`total ${((Date.now() - started) / 1000).toFixed(0)}s\n`);
      return;
    }
    case 'images': {
      const results = await ensureClusterImages({ progress: stderrProgress, appImages: appImageReferences(), monitoring: true });
      for (const r of results) process.stdout.write(`${r.reference.padEnd(64)} ${r.pushed ? 'pushed' : 'up to date'}\n`);
      return;
    }
    case 'up': {
      const cluster = await startCluster({ dir, nodes: args.fakeNodes, realNode: args.realNode, ingressNamespace: args.ingressNamespace });
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
      stderrProgress(`stopped the cluster in ${dir} and removed its host state`);
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
