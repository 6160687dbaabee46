/**
 * `npm run bench:deploy [-- --env <name>]... [--runs <n>]`
 *
 * Time from an empty cluster to every workload ready, per environment, the way a deploy job does
 * it: `kubectl apply --server-side` of the Namespace, the external Secrets and `dist/<env>`, then
 * `kubectl rollout status` for every Deployment and StatefulSet. Each run gets a fresh control
 * plane (testkit/src/test-cluster; kwok plays the kubelets with no readiness delay, so image pulls,
 * container starts and probes are not part of the figure: it measures the API server, admission,
 * scheduler and controllers driving the manifests to ready).
 *
 * Baseline, measured in the same cluster right before: the same apply + rollout loop for one
 * single-replica Deployment. The ratio says how much the real manifests cost over that floor.
 * Prints one line per run and a summary; with --json, one JSON document on stdout instead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ENVIRONMENT_NAMES } from '@expense-tracker/model/environment';
import { ensureBinaries } from '@expense-tracker/testkit/test-cluster/build';
import { startCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import type { Kubectl } from '@expense-tracker/testkit/test-cluster/kubectl';
import { deployEnvironment, secretsYaml, serverSideApply, synth } from '../test/cluster/support.js';

const USAGE = 'usage: npm run bench:deploy -- [--env <local|ibm>]... [--runs <1-10>] [--json]';

async function rolloutStatus(kubectl: Kubectl, namespace: string, resources: string[]): Promise<void> {
  for (const resource of resources) await kubectl.run(['rollout', 'status', resource, '-n', namespace, '--timeout=300s'], { timeoutMs: 310_000 });
}

/** Seconds for apply + rollout of one minimal restricted-compliant Deployment (the baseline). */
async function baseline(kubectl: Kubectl): Promise<number> {
  const ns = 'bench-baseline';
  const securityContext = { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } };
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'baseline', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'baseline' } },
        template: {
          metadata: { labels: { app: 'baseline' } },
          spec: {
            securityContext,
            containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
          },
        },
      },
    },
  ];
  const started = performance.now();
  await serverSideApply(kubectl, { yaml: objects.map((o) => JSON.stringify(o)).join('\n---\n') });
  await rolloutStatus(kubectl, ns, ['deployment/baseline']);
  return (performance.now() - started) / 1000;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ options: { env: { type: 'string', multiple: true }, runs: { type: 'string', default: '1' }, json: { type: 'boolean' } }, strict: true }));
  } catch (error) {
    console.error(`bench:deploy: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const envs = values.env ?? [...ENVIRONMENT_NAMES];
  const unknown = envs.filter((e) => !(ENVIRONMENT_NAMES as readonly string[]).includes(e));
  const runs = Number(values.runs);
  if (unknown.length > 0 || !Number.isInteger(runs) || runs < 1 || runs > 10) {
    console.error(`bench:deploy: ${unknown.length ? `--env: unknown environment ${unknown.join(', ')}` : `--runs must be an integer from 1 to 10, got "${values.runs}"`}\n${USAGE}`);
    return 2;
  }
  await ensureBinaries();
  const work = mkdtempSync(join(tmpdir(), 'expense-tracker-bench-deploy-'));
  const results: { env: string; run: number; clusterStartSeconds: number; baselineSeconds: number; deploySeconds: number; ratio: number; pods: number }[] = [];
  try {
    for (const env of envs) {
      const { dir, objects } = await synth(env, join(work, 'dist'));
      const namespace = objects.find((o) => o.kind === 'Namespace')!.metadata.name;
      const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
      const pods = workloads.reduce((n, w: any) => n + (w.spec.replicas ?? 1), 0);
      for (let run = 1; run <= runs; run += 1) {
        // No simulated readiness delay: the figure is the control plane's own work, not kwok's dice.
        const cluster = await startCluster({ dir: join(work, `cluster-${env}-${run}`), realNode: false, podReadyDelayMs: { min: 0, max: 0 }, progress: () => undefined });
        try {
          const baselineSeconds = await baseline(cluster.kubectl);
          const secrets = await secretsYaml(env); // generated before the clock starts
          const started = performance.now();
          const warnings = await deployEnvironment(cluster.kubectl, dir, secrets);
          await rolloutStatus(cluster.kubectl, namespace, workloads.map((w) => `${w.kind.toLowerCase()}/${w.metadata.name}`));
          const deploySeconds = (performance.now() - started) / 1000;
          if (warnings.length > 0) console.error(`bench:deploy: ${env}: API warnings: ${warnings.join('; ')}`);
          const r = { env, run, clusterStartSeconds: cluster.startSeconds, baselineSeconds, deploySeconds, ratio: deploySeconds / baselineSeconds, pods };
          results.push(r);
          if (!values.json) {
            console.log(`${env} run ${run}: empty cluster -> ${workloads.length} workloads (${pods} pods) ready in ${deploySeconds.toFixed(2)}s; `
              + `baseline 1-pod Deployment ${baselineSeconds.toFixed(2)}s; ratio ${r.ratio.toFixed(2)}x (cluster start ${cluster.startSeconds.toFixed(1)}s)`);
          }
        } finally {
          await cluster.stop();
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const summary = envs.map((env) => {
    const rs = results.filter((r) => r.env === env);
    return { env, runs: rs.length, medianDeploySeconds: median(rs.map((r) => r.deploySeconds)), medianBaselineSeconds: median(rs.map((r) => r.baselineSeconds)), medianRatio: median(rs.map((r) => r.ratio)) };
  });
  if (values.json) console.log(JSON.stringify({ results, summary }, null, 2));
  else for (const s of summary) console.log(`summary ${s.env}: median ${s.medianDeploySeconds.toFixed(2)}s to ready over ${s.runs} run(s), ${s.medianRatio.toFixed(2)}x the 1-pod baseline (${s.medianBaselineSeconds.toFixed(2)}s)`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench:deploy: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
