/**
 * `npm run bench:pulumi-deploy [-- --runs 3] [--changes 3] [--json]`
 *
 * Pulumi against kubectl on one real-node test cluster (testkit/src/test-cluster: containerd,
 * kubelet, kube-proxy, CoreDNS, Traefik, the app image in the cluster's registry), deploying the
 * `local` environment (the `ci` stack's) with the same settings on both sides (what one node cannot
 * run as written is set as in the cluster suites: singleNodeSets, hostLimitSets, standInDigests):
 *
 * | case           | Pulumi (`ci` stack, Automation API, built binaries, offline)  | kubectl (baseline)                                                    | goal |
 * | full deploy    | `pulumi up` into an empty cluster, until every object is ready | `kubectl apply --server-side` of Namespace, Secrets, dist/local + `rollout status` of every workload | ≤ 2× |
 * | no-op          | `pulumi up` with nothing changed                               | `kubectl diff --server-side -f dist/local`                            | ≤ 3× |
 * | one field      | `pulumi up` after `set: [web.replicas=N]`                      | `kubectl apply --server-side -f dist/local` (re-synthesized) + `rollout status deployment/expense-web` | ≤ 3× |
 *
 * Each run deploys with kubectl, measures its no-op and one-field cases and deletes the namespace,
 * and does the same with Pulumi (destroying at the end); the side that goes first alternates by
 * run, because the first deploy on the node also pulls the images. Prints min / median / max of
 * both sides and the ratio of the medians, then where Pulumi's time goes: the `pulumi up` process
 * alone in each case (the rest of `stack.up()` is the Automation API reading outputs and history
 * back), a fixed-cost probe (an empty inline program; a program that only configures the
 * Kubernetes provider) and the first full deploy's per-resource timeline from the engine events
 * (start of each step → its outputs), by kind. `--json` prints one JSON document instead. Exit 1
 * when a goal is not met or on failure, 2 on bad usage.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as k8s from '@pulumi/kubernetes';
import { LocalWorkspace, PulumiCommand, type EngineEvent, type Stack } from '@pulumi/pulumi/automation/index.js';
import { builtToolsEnv, toolPaths } from '@expense-tracker/tools/pulumi-tools/tools';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { startCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import { waitFor, type Kubectl } from '@expense-tracker/testkit/test-cluster/kubectl';
import { appImageReferences, ensureClusterImages } from '@expense-tracker/testkit/test-cluster/node/images';
import { openOfflineCiStack } from '../test/cluster/pulumi-offline.js';
import { deployEnvironment, FIELD_MANAGER, manifestFiles, realNodeSets, secretsYaml, synth } from '../test/cluster/support.js';
import { loadAverage, summarize } from './lib/measure.js';

const ENV = 'local';
const CONFIG = loadEnvironment(ENV);
const NAMESPACE = CONFIG.namespace;
const SECRETS = { postgresPassword: 'bench-pg-password', redisPassword: 'bench-redis-password', sessionSecret: 'bench-session-secret-0123456789abcdef', sendgridApiKey: 'SG.bench' };
const USAGE = 'usage: npm run bench:pulumi-deploy -- [--runs <1-10>] [--changes <1-10>] [--json]';

const seconds = (since: number) => (performance.now() - since) / 1000;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return seconds(started);
}

/** One step of the engine (a resource's create/update/same…), from its pre event to its outputs event. */
interface Step {
  readonly type: string;
  readonly name: string;
  readonly op: string;
  /** Seconds since `up()` was called. */
  readonly start: number;
  end?: number;
}

/** Seconds each Pulumi CLI invocation took, by subcommand (`up`, `stack output`, …), since the last reset. */
const cliSeconds: Array<[string, number]> = [];

/**
 * Times every CLI process the Automation API starts for `stack`: `stack.up()` runs `pulumi up`,
 * then `pulumi stack output` (twice) and `pulumi stack history` for its result.
 */
function instrumentCli(stack: Stack): void {
  // `run` is internal to the Automation API (absent from its typings) but is how it starts every CLI process.
  const command = stack.workspace.pulumiCommand as unknown as { run: (args: string[], ...rest: unknown[]) => Promise<unknown> };
  const run = command.run.bind(command);
  command.run = async (args: string[], ...rest: unknown[]) => {
    const started = performance.now();
    try {
      return await run(args, ...rest);
    } finally {
      cliSeconds.push([args.filter((a) => !a.startsWith('-')).slice(0, 2).join(' '), seconds(started)]);
    }
  };
}

/**
 * Runs `pulumi up` as `npm run up` does; with `timeline`, also records each step's start and end
 * as the engine reports them (the Automation API then tails the engine's event log, which adds
 * up to its 200 ms poll interval, so only the first full deploy asks for it).
 */
async function upWithTimeline(stack: Stack, timeline = false): Promise<{ seconds: number; steps: Step[]; firstEvent: number; changes: Record<string, number>; cli: Array<[string, number]> }> {
  cliSeconds.length = 0;
  const started = performance.now();
  const steps = new Map<string, Step>();
  let firstEvent = Number.NaN;
  const onEvent = (event: EngineEvent) => {
    const at = seconds(started);
    if (Number.isNaN(firstEvent)) firstEvent = at;
    const pre = event.resourcePreEvent?.metadata;
    if (pre) steps.set(pre.urn, { type: pre.type, name: pre.urn.split('::').pop() ?? pre.urn, op: pre.op, start: at });
    const out = event.resOutputsEvent?.metadata;
    if (out) {
      const step = steps.get(out.urn);
      if (step) step.end = at;
    }
  };
  const result = await stack.up({ ...(timeline ? { onEvent } : {}), onOutput: () => {} });
  if (result.summary.result !== 'succeeded') throw new Error(`pulumi up: ${result.summary.result}`);
  return { seconds: seconds(started), steps: [...steps.values()], firstEvent, changes: (result.summary.resourceChanges ?? {}) as Record<string, number>, cli: [...cliSeconds] };
}

/** Seconds of the `pulumi up` process among the CLI processes of one `stack.up()`. */
const upProcessSeconds = (cli: Array<[string, number]>): number => cli.find(([c]) => c.split(' ')[0] === 'up')?.[1] ?? Number.NaN;

async function rolloutStatus(kubectl: Kubectl, resources: string[]): Promise<void> {
  for (const resource of resources) await kubectl.run(['rollout', 'status', resource, '-n', NAMESPACE, '--timeout=300s'], { timeoutMs: 310_000 });
}

async function deleteNamespace(kubectl: Kubectl): Promise<void> {
  await kubectl.run(['delete', 'namespace', NAMESPACE, '--wait=false'], { reject: false });
  await waitFor(`namespace ${NAMESPACE} gone`, async () => (await kubectl.run(['get', 'namespace', NAMESPACE], { reject: false })).exitCode !== 0, 180_000, 250);
}

/**
 * Fixed costs of a `pulumi up` on this machine with these binaries: an inline program that
 * registers nothing (CLI start, engine, language runtime, state file), and one that only
 * registers the Kubernetes provider (plus the provider plugin's start and configuration
 * against the cluster).
 */
async function fixedCosts(kubeconfig: string, work: string): Promise<{ emptySeconds: number[]; providerSeconds: number[] }> {
  const paths = toolPaths();
  const env = { ...builtToolsEnv(paths), PULUMI_CONFIG_PASSPHRASE: 'bench', PULUMI_BACKEND_URL: `file://${work}/state`, PULUMI_SKIP_UPDATE_CHECK: 'true' };
  mkdirSync(join(work, 'state'), { recursive: true });
  const pulumiCommand = await PulumiCommand.get({ root: paths.pulumiRoot, skipVersionCheck: true });
  const open = (stackName: string, program: () => Promise<Record<string, unknown>>) =>
    LocalWorkspace.createOrSelectStack({ stackName, projectName: 'bench-fixed-costs', program }, { workDir: mkdtempSync(join(work, 'project-')), pulumiCommand, envVars: env, secretsProvider: 'passphrase' });
  const empty = await open('empty', async () => ({}));
  const provider = await open('provider', async () => {
    // A provider alone is configured lazily; one read of the Namespace list makes it start and connect.
    const p = new k8s.Provider('bench', { kubeconfig });
    k8s.core.v1.Namespace.get('default', 'default', { provider: p });
    return {};
  });
  const emptySeconds: number[] = [];
  const providerSeconds: number[] = [];
  for (let i = 0; i < 3; i++) {
    emptySeconds.push(await timed(() => empty.up({ onOutput: () => {} })));
    providerSeconds.push(await timed(() => provider.up({ onOutput: () => {} })));
  }
  await provider.destroy({ onOutput: () => {} });
  return { emptySeconds, providerSeconds };
}

interface Sides {
  pulumi: number[];
  kubectl: number[];
}

function line(label: string, sides: Sides, goal: number): { ratio: number; met: boolean } {
  const p = summarize(sides.pulumi);
  const k = summarize(sides.kubectl);
  const ratio = p.median / k.median;
  const met = ratio <= goal;
  const fmt = (s: { min: number; median: number; max: number }) => `${s.min.toFixed(2)} / ${s.median.toFixed(2)} / ${s.max.toFixed(2)} s`;
  console.log(`\n${label} (${sides.pulumi.length} vs ${sides.kubectl.length} samples; min / median / max)`);
  console.log(`  pulumi   ${fmt(p)}`);
  console.log(`  kubectl  ${fmt(k)}`);
  console.log(`  ratio (medians) ${ratio.toFixed(2)}   goal ≤ ${goal}: ${met ? 'met' : 'NOT met'}`);
  return { ratio, met };
}

async function main(): Promise<number> {
  let flags;
  try {
    const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, changes: { type: 'string', default: '3' }, json: { type: 'boolean', default: false } }, strict: true });
    const int = (name: string, v: string) => {
      if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > 10) throw new Error(`--${name} must be an integer from 1 to 10, got "${v}"`);
      return Number(v);
    };
    flags = { runs: int('runs', values.runs!), changes: int('changes', values.changes!), json: values.json! };
  } catch (error) {
    console.error(`bench:pulumi-deploy: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const say = (m: string) => process.stderr.write(`[bench:pulumi-deploy] ${m}\n`);
  const work = mkdtempSync(join(tmpdir(), 'expense-tracker-bench-pulumi-'));
  const loadBefore = loadAverage();
  // The app image under every environment's name, the stand-ins and the node's images (built if missing).
  await ensureClusterImages({ progress: say, appImages: appImageReferences() });
  const cluster = await startCluster({ dir: join(work, 'cluster'), ingressNamespace: CONFIG.ingressControllerNamespace, progress: say });
  let offline: Awaited<ReturnType<typeof openOfflineCiStack>> | undefined;
  try {
    // What one node and this host cannot run as written, the same for both sides.
    const nodeSets = await realNodeSets(cluster.registryUrl!, ENV);
    // Two renders that differ in one field, web.replicas (the environment's default is in the first).
    const base = await synth(ENV, join(work, 'dist-a'), nodeSets);
    const webReplicas = (base.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'expense-web') as any).spec.replicas as number;
    const variants = [base.dir, (await synth(ENV, join(work, 'dist-b'), [...nodeSets, `web.replicas=${webReplicas + 1}`])).dir];
    const sets = [nodeSets, [...nodeSets, `web.replicas=${webReplicas + 1}`]];
    const workloads = base.objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet').map((o) => `${o.kind.toLowerCase()}/${o.metadata.name}`);
    const secrets = await secretsYaml(ENV); // generated before any clock starts

    const full: Sides = { pulumi: [], kubectl: [] };
    const noop: Sides = { pulumi: [], kubectl: [] };
    const change: Sides = { pulumi: [], kubectl: [] };
    let timeline: Awaited<ReturnType<typeof upWithTimeline>> | undefined;

    offline = await openOfflineCiStack({ kubeconfig: cluster.kubeconfig, image: `${CONFIG.image.repository}:${CONFIG.image.tag}`, secrets: SECRETS, progress: say });
    const stack = offline.stack;
    await stack.setConfig('environment', { value: ENV });
    instrumentCli(stack);
    // The `pulumi up` process alone, per case (the rest of stack.up() is the Automation API's read-back).
    const upProcess = { full: [] as number[], noop: [] as number[], change: [] as number[] };
    const withKubectl = async (run: number) => {
      say(`run ${run}/${flags.runs}: kubectl apply --server-side + rollout status`);
      full.kubectl.push(await timed(async () => {
        await deployEnvironment(cluster.kubectl, variants[0], secrets);
        await rolloutStatus(cluster.kubectl, workloads);
      }));
      for (let i = 0; i < flags.changes; i++) {
        // Exit code 0: nothing differs from what was applied last (variant i % 2).
        noop.kubectl.push(await timed(() => cluster.kubectl.run(['diff', '--server-side', `--field-manager=${FIELD_MANAGER}`, ...manifestFiles(variants[i % 2]).flatMap((f) => ['-f', f])])));
        const dir = variants[(i + 1) % 2];
        change.kubectl.push(await timed(async () => {
          await cluster.kubectl.run(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, ...manifestFiles(dir).flatMap((f) => ['-f', f])]);
          await rolloutStatus(cluster.kubectl, ['deployment/expense-web']);
        }));
      }
      say(`run ${run}/${flags.runs}: deleting namespace ${NAMESPACE}`);
      await deleteNamespace(cluster.kubectl);
    };
    const withPulumi = async (run: number) => {
      say(`run ${run}/${flags.runs}: pulumi up --stack ci`);
      await stack.setConfig('set', { value: JSON.stringify(sets[0]) });
      const up = await upWithTimeline(stack, timeline === undefined);
      full.pulumi.push(up.seconds);
      upProcess.full.push(upProcessSeconds(up.cli));
      timeline ??= up;
      for (let i = 0; i < flags.changes; i++) {
        const same = await upWithTimeline(stack);
        if (Object.keys(same.changes).some((k) => k !== 'same')) throw new Error(`no-op pulumi up changed something: ${JSON.stringify(same.changes)}`);
        noop.pulumi.push(same.seconds);
        upProcess.noop.push(upProcessSeconds(same.cli));
        await stack.setConfig('set', { value: JSON.stringify(sets[(i + 1) % 2]) });
        const changed = await upWithTimeline(stack);
        if (changed.changes.update !== 1) throw new Error(`one-field pulumi up: expected 1 update, got ${JSON.stringify(changed.changes)}`);
        change.pulumi.push(changed.seconds);
        upProcess.change.push(upProcessSeconds(changed.cli));
      }
      say(`run ${run}/${flags.runs}: pulumi destroy`);
      await stack.destroy({ onOutput: () => {} });
      await deleteNamespace(cluster.kubectl).catch(() => undefined);
    };
    for (let run = 1; run <= flags.runs; run++) {
      // Alternate which side goes first: the first deploy on the node also pulls the images.
      for (const side of run % 2 === 1 ? [withKubectl, withPulumi] : [withPulumi, withKubectl]) await side(run);
    }

    say('fixed costs: empty program, provider only');
    const fixed = await fixedCosts(cluster.kubeconfig, work);

    const steps = timeline!.steps;
    const byKind = new Map<string, number[]>();
    for (const s of steps) {
      if (s.end === undefined || !s.type.startsWith('kubernetes:')) continue;
      const kind = s.type.split(':').pop()!;
      byKind.set(kind, [...(byKind.get(kind) ?? []), s.end - s.start]);
    }
    const k8sSteps = steps.filter((s) => s.type.startsWith('kubernetes:') && s.type !== 'pulumi:providers:kubernetes');
    const firstK8s = Math.min(...k8sSteps.map((s) => s.start));
    const lastK8s = Math.max(...k8sSteps.map((s) => s.end ?? s.start));
    const figures = {
      objects: base.objects.length,
      full: { ...full, summary: { pulumi: summarize(full.pulumi), kubectl: summarize(full.kubectl) } },
      noop: { ...noop, summary: { pulumi: summarize(noop.pulumi), kubectl: summarize(noop.kubectl) } },
      change: { ...change, summary: { pulumi: summarize(change.pulumi), kubectl: summarize(change.kubectl) } },
      fixed: { empty: summarize(fixed.emptySeconds), provider: summarize(fixed.providerSeconds) },
      cli: timeline!.cli,
      upProcessSeconds: upProcess,
      loadAverage: { before: loadBefore, after: loadAverage() },
      timeline: { firstEvent: timeline!.firstEvent, firstKubernetesStep: firstK8s, lastKubernetesOutputs: lastK8s, total: timeline!.seconds, byKind: Object.fromEntries([...byKind].map(([k, v]) => [k, summarize(v)])) },
    };
    if (flags.json) {
      console.log(JSON.stringify(figures));
      return [full, noop, change].every((s, i) => summarize(s.pulumi).median / summarize(s.kubectl).median <= [2, 3, 3][i]) ? 0 : 1;
    }
    console.log(`${ENV} environment (${base.objects.length} objects + 3 Secrets), one real-node test cluster, ${flags.runs} run(s); load average before ${loadBefore}, after ${figures.loadAverage.after} (1/5/15 min)`);
    const results = [
      line('full deploy: pulumi up vs kubectl apply --server-side + rollout status', full, 2),
      line('no-op: pulumi up vs kubectl diff --server-side', noop, 3),
      line(`one field (web.replicas ${webReplicas} ↔ ${webReplicas + 1}): pulumi up vs kubectl apply --server-side + rollout status`, change, 3),
    ];
    const f = figures.fixed;
    console.log('\nwhere pulumi up spends its time');
    console.log(`  fixed: empty inline program ${f.empty.median.toFixed(2)} s (CLI, engine, language runtime, state); + Kubernetes provider start and configure ${(f.provider.median - f.empty.median).toFixed(2)} s`);
    const cliLine = timeline!.cli.map(([c, sec]) => `pulumi ${c} ${sec.toFixed(2)} s`).join(', ');
    console.log(`  CLI processes of stack.up() (first full deploy): ${cliLine}`);
    console.log('  the `pulumi up` process alone (the rest of stack.up() is the Automation API reading outputs and history back): median, ratio to kubectl');
    for (const [label, processSeconds, sides] of [['full deploy', upProcess.full, full], ['no-op', upProcess.noop, noop], ['one field', upProcess.change, change]] as const) {
      const median = summarize(processSeconds).median;
      console.log(`    ${label.padEnd(12)} ${median.toFixed(2)} s, ${(median / summarize(sides.kubectl).median).toFixed(2)}`);
    }
    const t = figures.timeline;
    console.log(`  full deploy (first run): first engine event at ${t.firstEvent.toFixed(2)} s, first Kubernetes step at ${t.firstKubernetesStep.toFixed(2)} s, last outputs at ${t.lastKubernetesOutputs.toFixed(2)} s, up() returned at ${t.total.toFixed(2)} s`);
    console.log('  per step (pre event → outputs, seconds; min / median / max by kind):');
    for (const [kind, s] of Object.entries(t.byKind).sort(([, a], [, b]) => b.max - a.max)) {
      console.log(`    ${kind.padEnd(24)} ${s.min.toFixed(2)} / ${s.median.toFixed(2)} / ${s.max.toFixed(2)}`);
    }
    console.log('  timeline of the first full deploy (start → end, seconds since up()):');
    for (const s of [...steps].sort((a, b) => a.start - b.start)) {
      console.log(`    ${s.start.toFixed(2).padStart(6)} → ${(s.end ?? Number.NaN).toFixed(2).padStart(6)}  ${s.op.padEnd(7)} ${s.type.split(':').pop()} ${s.name}`);
    }
    return results.every((r) => r.met) ? 0 : 1;
  } finally {
    offline?.cleanup();
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench:pulumi-deploy: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
