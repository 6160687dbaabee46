/**
 * `npm run bench:deploy [-- --env <local|ibm>]... [--runs <n>] [--json]`
 *
 * Time from an empty real-node test cluster (testkit/src/test-cluster) to the app answering a
 * logged-in dashboard through the Ingress, per environment, deployed two ways:
 * - kubectl (the baseline): `kubectl apply --server-side` of the Namespace, the Secrets from
 *   `create-secrets` and `dist/<env>`, as docs/testing-cluster.md and a deploy job do it;
 * - pulumi: `pulumi up` of the `ci` stack (the program test/cluster/pulumi.test.ts drives, with the
 *   CLI and Kubernetes provider built by `npm run pulumi-tools`, offline; secrets as secret config).
 * Both clocks stop when, through INGRESS_URL with the environment's Host header, a new user
 * registers, logs in and GET /dashboard answers 200 with the dashboard (IngressSession). The
 * measured time is the deploy itself: images are pushed, the cluster started, the manifests
 * synthesized, the Secrets generated and the Pulumi stack prepared before the clock starts.
 *
 * Every measurement gets a fresh cluster (started, then stopped with its host state restored), so
 * each deploy starts from an empty cluster; the cluster start is printed but not counted. What one
 * node cannot run as written is set as in the cluster suites, the same for both sides
 * (singleNodeSets, hostLimitSets, standInDigests); with `monitoring.enabled` the Prometheus
 * Operator CRDs are installed before the clock, as a cluster would already have them.
 *
 * Prints one line per measurement and per environment min / median / max of both sides and the
 * ratio pulumi/kubectl of the medians, with the load average (the figures move with it).
 * `--json`: one JSON document on stdout instead. Exit 2 on bad usage, 1 on failure.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { startCluster, stopCluster, type TestCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import { waitFor } from '@expense-tracker/testkit/test-cluster/kubectl';
import { appImageReferences, ensureClusterImages } from '@expense-tracker/testkit/test-cluster/node/images';
import { IngressSession } from '../test/cluster/ingress.js';
import { openOfflineCiStack } from '../test/cluster/pulumi-offline.js';
import { deployEnvironment, installMonitoringCrds, realNodeSets, secretsYaml, synth } from '../test/cluster/support.js';
import { DEPLOY_USAGE, formatDeploySummary, medianRatio, parseDeployArgs, UsageError, type DeployOptions } from './lib/deploy-options.js';
import { loadAverage, summarize } from './lib/measure.js';

type Tool = 'kubectl' | 'pulumi';

interface Measurement {
  env: string;
  tool: Tool;
  run: number;
  /** Empty cluster -> logged-in dashboard, seconds. */
  seconds: number;
  /** Of those, until `pulumi up` returned or the last `kubectl apply` did, seconds. */
  deployCommandSeconds: number;
  /** Fresh cluster start (not counted), seconds. */
  clusterStartSeconds: number;
  /** 1-minute load average when the measurement ended. */
  load: string;
}

/** How long the app may take to answer after the deploy command returned (the machine is shared). */
const DASHBOARD_TIMEOUT_MS = 900_000;
const say = (m: string) => process.stderr.write(`[bench:deploy] ${m}\n`);
const since = (started: number) => (performance.now() - started) / 1000;

/** The cluster being measured, stopped on Ctrl-C or an unexpected exit too. */
let current: { dir: string; cluster?: TestCluster } | undefined;

/**
 * Polls until a new user registers, logs in and gets the dashboard through the Ingress.
 * @throws Error with the last answer when it does not happen within DASHBOARD_TIMEOUT_MS.
 */
async function waitForDashboard(ingressUrl: string, host: string, label: string): Promise<void> {
  let attempt = 0;
  let last = 'no answer yet';
  await waitFor(`${label}: a logged-in dashboard through the Ingress`, async () => {
    attempt += 1;
    const session = new IngressSession(ingressUrl, host);
    try {
      await session.signUp(`bench-${label.replace(/\W+/g, '-')}-${attempt}@example.com`, 'a long bench password');
      const dashboard = await session.send('GET', '/dashboard', { timeoutMs: 10_000 });
      last = `GET /dashboard: HTTP ${dashboard.status} ${dashboard.text.slice(0, 200)}`;
      return dashboard.status === 200 && dashboard.text.includes('data-testid="month-total"');
    } catch (error) {
      last = (error as Error).message.slice(0, 300);
      return false;
    }
  }, DASHBOARD_TIMEOUT_MS, 1000).catch((error: Error) => {
    throw new Error(`${error.message}; last answer: ${last}`);
  });
}

/** Random secret config values for the `ci` stack (the kubectl side gets create-secrets' random values). */
function stackSecrets(): Record<string, string> {
  const value = () => randomBytes(24).toString('hex');
  return { postgresPassword: value(), redisPassword: value(), sessionSecret: value(), sendgridApiKey: `SG.${value()}` };
}

/** One measurement on a fresh cluster, which is stopped (host state restored) before returning. */
async function measure(env: string, tool: Tool, run: number, work: string): Promise<Measurement> {
  const config = loadEnvironment(env);
  const label = `${env} ${tool} run ${run}`;
  const dir = join(work, `cluster-${env}-${tool}-${run}`);
  current = { dir };
  say(`${label}: starting a fresh real-node cluster`);
  const cluster = await startCluster({ dir, ingressNamespace: config.ingressControllerNamespace, progress: (m) => say(`${label}: ${m}`) });
  current.cluster = cluster;
  try {
    // What one node and this host cannot run as written, the same for both sides.
    const sets = await realNodeSets(cluster.registryUrl!, env);
    if (config.monitoring.enabled) await installMonitoringCrds(cluster.kubectl);
    let started: number;
    let deployCommandSeconds: number;
    if (tool === 'kubectl') {
      const { dir: dist } = await synth(env, join(work, `dist-${env}-${run}`), sets);
      const secrets = await secretsYaml(env);
      say(`${label}: kubectl apply --server-side`);
      started = performance.now();
      const warnings = await deployEnvironment(cluster.kubectl, dist, secrets);
      deployCommandSeconds = since(started);
      if (warnings.length > 0) say(`${label}: API warnings: ${warnings.join('; ')}`);
      await waitForDashboard(cluster.ingressUrl!, config.ingress.host, label);
    } else {
      const offline = await openOfflineCiStack({ kubeconfig: cluster.kubeconfig, image: `${config.image.repository}:${config.image.tag}`, secrets: stackSecrets() });
      try {
        await offline.stack.setConfig('environment', { value: env });
        await offline.stack.setConfig('set', { value: JSON.stringify(sets) });
        say(`${label}: pulumi up`);
        started = performance.now();
        const result = await offline.stack.up({ onOutput: () => undefined });
        deployCommandSeconds = since(started);
        if (result.summary.result !== 'succeeded') throw new Error(`${label}: pulumi up ${result.summary.result}`);
        await waitForDashboard(cluster.ingressUrl!, config.ingress.host, label);
      } finally {
        // The state is thrown away with the cluster: no destroy needed.
        offline.cleanup();
      }
    }
    const seconds = since(started);
    return { env, tool, run, seconds, deployCommandSeconds, clusterStartSeconds: cluster.startSeconds, load: loadAverage() };
  } finally {
    say(`${label}: stopping the cluster`);
    await cluster.stop();
    current = undefined;
    // The node's containerd root holds every unpacked image: gone before the next cluster starts.
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(options: DeployOptions): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'expense-tracker-bench-deploy-'));
  const results: Measurement[] = [];
  const loadBefore = loadAverage();
  try {
    // The app image under every environment's name, the stand-ins and the node's images (built if missing).
    await ensureClusterImages({ progress: say, appImages: appImageReferences() });
    for (const env of options.envs) {
      for (let run = 1; run <= options.runs; run += 1) {
        for (const tool of ['kubectl', 'pulumi'] as const) {
          const m = await measure(env, tool, run, work);
          results.push(m);
          if (!options.json) {
            console.log(`${env} ${tool.padEnd(7)} run ${run}: ${m.seconds.toFixed(1)} s to a logged-in dashboard (deploy command ${m.deployCommandSeconds.toFixed(1)} s); `
              + `fresh cluster, started in ${m.clusterStartSeconds.toFixed(1)} s (not counted); load ${m.load}`);
          }
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const summaries = options.envs.map((env) => {
    const of = (tool: Tool) => results.filter((r) => r.env === env && r.tool === tool).map((r) => r.seconds);
    return { env, kubectl: of('kubectl'), pulumi: of('pulumi') };
  });
  if (options.json) {
    const summary = summaries.map((s) => ({ env: s.env, kubectlSeconds: summarize(s.kubectl), pulumiSeconds: summarize(s.pulumi), ratio: medianRatio(s) }));
    console.log(JSON.stringify({ emptyCluster: 'fresh cluster per measurement', loadBefore, loadAfter: loadAverage(), results, summary }, null, 2));
    return;
  }
  console.log(`\nEach measurement on a fresh real-node cluster (empty but for the node's add-ons); load average before ${loadBefore}, after ${loadAverage()} (1/5/15 min, 2 cores)`);
  for (const s of summaries) console.log(formatDeploySummary(s).join('\n'));
}

let options: DeployOptions;
try {
  options = parseDeployArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`bench:deploy: ${error.message}\n${DEPLOY_USAGE}`);
  process.exit(2);
}

// Ctrl-C or a kill while a cluster runs: stop it (restores the host) before exiting.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping the cluster`);
    const stopping = current ? stopCluster(current.dir) : Promise.resolve();
    stopping.catch((e: unknown) => say(`stopping failed: ${String(e)}`)).finally(() => process.exit(130));
  });
}

main(options).then(
  () => process.exit(0),
  async (error: unknown) => {
    console.error(`bench:deploy: ${error instanceof Error ? error.message : String(error)}`);
    if (current) await stopCluster(current.dir).catch(() => undefined);
    process.exit(1);
  },
);
