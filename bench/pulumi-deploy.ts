/**
 * `npm run bench:pulumi-deploy`
 *
 * On one fresh test control plane (testkit/src/test-cluster; kwok plays the kubelets), deploys the
 * `local` environment twice and prints both times and their ratio:
 *
 * - baseline: `kubectl apply --server-side` of the Namespace, the Secrets and `dist/local`, then
 *   `kubectl rollout status` for every Deployment and StatefulSet (what bench/deploy.ts times);
 * - `pulumi up` of the `ci` stack (same environment, same image) with the binaries built by
 *   `npm run pulumi-tools`, offline, until Pulumi's await logic reports every object ready.
 *
 * Between the two the namespace is deleted and its deletion awaited. Pulumi's figure includes
 * its engine, plugin start and the Automation API. kwok's simulated readiness delay is 0, as in
 * bench/deploy.ts. Prints one line per figure and `ratio pulumi/kubectl`; `--json` prints one JSON
 * document instead. Exit 1 on failure, 2 on bad usage.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openOfflineCiStack, startIngressStatusWriter } from '../scripts/pulumi/offline.js';
import { startCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import { waitFor, type Kubectl } from '@expense-tracker/testkit/test-cluster/kubectl';
import { deployEnvironment, secretsYaml, synth } from '../test/cluster/support.js';

const NAMESPACE = 'expense-tracker';
const IMAGE = 'localhost:5000/expense-tracker:0.1.0';

async function rolloutStatus(kubectl: Kubectl, resources: string[]): Promise<void> {
  for (const resource of resources) await kubectl.run(['rollout', 'status', resource, '-n', NAMESPACE, '--timeout=300s'], { timeoutMs: 310_000 });
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ options: { json: { type: 'boolean', default: false } }, strict: true }));
  } catch (error) {
    console.error(`bench:pulumi-deploy: ${(error as Error).message}\nusage: npm run bench:pulumi-deploy -- [--json]`);
    return 2;
  }
  const say = (m: string) => process.stderr.write(`[bench:pulumi-deploy] ${m}\n`);
  const work = mkdtempSync(join(tmpdir(), 'expense-tracker-bench-pulumi-'));
  // No simulated readiness delay (as bench/deploy.ts): both figures are the tools' and the control plane's own work.
  const cluster = await startCluster({ realNode: false, podReadyDelayMs: { min: 0, max: 0 }, progress: say });
  const stopIngress = startIngressStatusWriter(cluster.kubectl);
  let offline: Awaited<ReturnType<typeof openOfflineCiStack>> | undefined;
  try {
    const { dir, objects } = await synth('local', join(work, 'dist'), [`image.repository=localhost:5000/expense-tracker`, 'image.tag=0.1.0']);
    const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet').map((o) => `${o.kind.toLowerCase()}/${o.metadata.name}`);

    const secrets = await secretsYaml('local'); // generated before the clock starts
    say('kubectl apply --server-side + rollout status');
    let started = performance.now();
    await deployEnvironment(cluster.kubectl, dir, secrets);
    await rolloutStatus(cluster.kubectl, workloads);
    const kubectlSeconds = (performance.now() - started) / 1000;

    say(`deleting namespace ${NAMESPACE}`);
    await cluster.kubectl.run(['delete', 'namespace', NAMESPACE, '--wait=false']);
    await waitFor(`namespace ${NAMESPACE} gone`, async () => (await cluster.kubectl.run(['get', 'namespace', NAMESPACE], { reject: false })).exitCode !== 0, 180_000, 500);

    offline = await openOfflineCiStack({
      kubeconfig: cluster.kubeconfig,
      image: IMAGE,
      secrets: { postgresPassword: 'bench-pg-password', redisPassword: 'bench-redis-password', sessionSecret: 'bench-session-secret-0123456789abcdef', sendgridApiKey: 'SG.bench' },
      progress: say,
    });
    say('pulumi up --stack ci');
    started = performance.now();
    const result = await offline.stack.up({ onOutput: () => {} });
    const pulumiSeconds = (performance.now() - started) / 1000;
    if (result.summary.result !== 'succeeded') throw new Error(`pulumi up: ${result.summary.result}`);
    await offline.stack.destroy({ onOutput: () => {} });

    const figures = { objects: objects.length, kubectlSeconds, pulumiSeconds, ratio: pulumiSeconds / kubectlSeconds };
    if (values.json) {
      console.log(JSON.stringify(figures));
    } else {
      console.log(`local environment, ${objects.length} objects, one fresh cluster`);
      console.log(`kubectl apply --server-side + rollout status: ${kubectlSeconds.toFixed(1)} s (baseline)`);
      console.log(`pulumi up (ci stack):                         ${pulumiSeconds.toFixed(1)} s`);
      console.log(`ratio pulumi/kubectl:                         ${figures.ratio.toFixed(2)}`);
    }
    return 0;
  } finally {
    await stopIngress();
    offline?.cleanup();
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench:pulumi-deploy: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
