/**
 * Helpers shared by the cluster tests and bench/deploy.ts: synthesize an environment into a
 * temp dir with the real `npm run synth` entry point, create its Secrets with the real
 * `create-secrets` script, server-side apply with warnings captured, wait for workloads, and
 * watch a resource while something happens.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, execaSync } from 'execa';
import { loadEnvironment } from '@expense-tracker/model/environment';
import type { KubeObject } from '../../charts/synthesize.js';
import { readManifests } from '../../scripts/lib/manifests.js';
import { warningsIn, waitFor, type Kubectl } from '@expense-tracker/testkit/test-cluster/kubectl';
import { manifestDigest } from '@expense-tracker/testkit/test-cluster/node/registry';
import {
  PROMETHEUS_NAME,
  PROMETHEUS_OPERATED_SERVICE,
  PROMETHEUS_OPERATOR_NAME,
  prometheusObjects,
  prometheusOperatorObjects,
  type PrometheusStackOptions,
} from '@expense-tracker/testkit/test-cluster/node/prometheus-operator';
import { IMPORTED_CRDS } from '../../monitoring/versions.js';
import { operatorModuleDir } from '../../scripts/import-crds.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Server-side apply field manager of the tests (as a CI deploy job would use one). */
export const FIELD_MANAGER = 'expense-tracker-deploy';
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/**
 * Runs `scripts/synth.ts --env <env> --out <outDir> [--set ...]` and returns the objects written to `<outDir>/<env>`.
 * @throws Error with synth's output when it exits non-zero.
 */
export async function synth(env: string, outDir: string, set: string[] = []): Promise<{ dir: string; objects: KubeObject[] }> {
  await execa(TSX, ['scripts/synth.ts', '--env', env, '--out', outDir, ...set.flatMap((s) => ['--set', s])], { cwd: ROOT, all: true });
  const dir = join(outDir, env);
  return { dir, objects: await readManifests(dir) };
}

/**
 * `--set <component>.image.digest=<digest>` for every image the environment pins by digest
 * (ibm pins the official postgres, redis and haproxy images by Docker Hub's digests): the digest
 * of the stand-in the test cluster's registry (`registryUrl`) serves under the same tag. No
 * stand-in can match a Docker Hub digest, so the manifests run `name:tag@<stand-in digest>` and
 * the node really pulls by digest. Empty for environments that run images by tag.
 * @throws Error when the registry lacks a pinned image's tag (run `test-cluster images`).
 */
export async function standInDigests(registryUrl: string, env: string): Promise<string[]> {
  const config = loadEnvironment(env) as unknown as Record<string, { image?: { repository: string; tag: string; digest?: string } }>;
  const sets: string[] = [];
  for (const [component, value] of Object.entries(config)) {
    const image = value?.image;
    if (!image?.digest) continue;
    sets.push(`${component}.image.digest=${await manifestDigest(registryUrl, `${image.repository}:${image.tag}`)}`);
  }
  return sets;
}

/**
 * Every `--set` a real-node test cluster needs to run environment `env` as written elsewhere:
 * {@link standInDigests} (images pinned by digest), {@link hostLimitSets} (this host's open-file
 * limit) and {@link singleNodeSets} (what one node cannot run), in that order.
 * @throws Error when the registry lacks a pinned image's tag (run `test-cluster images`).
 */
export async function realNodeSets(registryUrl: string, env: string): Promise<string[]> {
  const config = loadEnvironment(env);
  return [...(await standInDigests(registryUrl, env)), ...hostLimitSets(config), ...singleNodeSets(config)];
}

/**
 * `--set` values for what one real node cannot run:
 * - HA Postgres (`postgres.mode=ha`) requires its members on distinct nodes (required pod
 *   anti-affinity) and backs up to object storage, so the environment runs its single-instance
 *   Postgres with backups off. HA Postgres and its backups are proven by the `database` tier
 *   (Patroni on a real API server).
 * - A ReadWriteMany import staging claim (ibm: VPC file storage, shared by web and worker pods on
 *   several nodes) becomes ReadWriteOnce: the node's local-path provisioner makes ReadWriteOnce
 *   volumes only, and on one node every pod mounts a ReadWriteOnce volume
 *   (https://kubernetes.io/docs/concepts/storage/persistent-volumes/#access-modes), so web and
 *   workers still share the same files. What stays unproven here is a multi-node file share.
 */
export function singleNodeSets(config: { postgres: { mode: string }; imports?: { enabled: boolean; staging: { accessMode: string } } }): string[] {
  const sets = config.postgres.mode === 'ha' ? ['postgres.mode=single', 'postgres.backup.enabled=false'] : [];
  if (config.imports?.enabled && config.imports.staging.accessMode === 'ReadWriteMany') sets.push('imports.staging.accessMode=ReadWriteOnce');
  return sets;
}

/**
 * Installs every CRD of the pinned Prometheus Operator release (`monitoring.enabled`), as
 * kube-prometheus-stack does: the manifests of its Go module zip (`example/prometheus-operator-crd/`,
 * the same files `npm run import:crds` generates the chart's classes from), server-side applied
 * (they exceed the client-side apply annotation limit), then awaited Established. The operator
 * needs all of them (Prometheus, Alertmanager, ...), the charts only `IMPORTED_CRDS`.
 * @returns the API server's warnings
 */
export async function installMonitoringCrds(kubectl: Kubectl): Promise<string[]> {
  const dir = join(await operatorModuleDir(), 'example', 'prometheus-operator-crd');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));
  for (const crd of IMPORTED_CRDS) if (!files.includes(join(dir, crd))) throw new Error(`${crd} missing from ${dir}`);
  const { warnings } = await serverSideApply(kubectl, { files });
  await kubectl.run(['wait', '--for=condition=Established', '--timeout=60s', ...files.flatMap((f) => ['-f', f])]);
  return warnings;
}

/**
 * Runs the Prometheus Operator and one `Prometheus` selecting `selectorLabels` in `namespace`
 * (testkit's prometheus-operator.ts; the CRDs must be installed), and waits until the operator's
 * Prometheus StatefulSet is ready.
 * @returns the API server's warnings
 */
export async function deployPrometheusStack(kubectl: Kubectl, options: PrometheusStackOptions): Promise<string[]> {
  const warnings: string[] = [];
  const yaml = (objects: object[]) => objects.map((o) => JSON.stringify(o)).join('\n---\n');
  warnings.push(...(await serverSideApply(kubectl, { yaml: yaml(prometheusOperatorObjects(options.namespace)) })).warnings);
  warnings.push(...(await serverSideApply(kubectl, { yaml: yaml(prometheusObjects(options)) })).warnings);
  await waitFor(`Deployment ${PROMETHEUS_OPERATOR_NAME} ready`, async () => deploymentReady(await kubectl.json(['get', 'deployment', PROMETHEUS_OPERATOR_NAME, '-n', options.namespace])), 120_000, 500);
  const statefulSet = `prometheus-${PROMETHEUS_NAME}`;
  await waitFor(`StatefulSet ${statefulSet} (created by the operator) ready`, async () => {
    const sts = await kubectl.json<any>(['get', 'statefulset', statefulSet, '-n', options.namespace], { reject: false }).catch(() => undefined);
    return sts !== undefined && statefulSetReady(sts);
  }, 180_000, 1000);
  return warnings;
}

/**
 * GET `path` (e.g. `/api/v1/targets`) from Prometheus's HTTP API through the API server's proxy
 * to the operator's Service `prometheus-operated` (port `web`), and returns the parsed `data` of
 * a `success` answer.
 * @throws Error with the answer when it is not a JSON `success`.
 */
export async function prometheusApi<T = any>(kubectl: Kubectl, namespace: string, path: string): Promise<T> {
  const { stdout } = await kubectl.run(['get', '--raw', `/api/v1/namespaces/${namespace}/services/${PROMETHEUS_OPERATED_SERVICE}:web/proxy${path}`]);
  const answer = JSON.parse(stdout) as { status: string; data: T };
  if (answer.status !== 'success') throw new Error(`Prometheus ${path}: ${stdout}`);
  return answer.data;
}

/** The hard `nofile` limit of processes started from here (what containerd and its containers inherit). */
export function hardNofileLimit(): number {
  const limit = execaSync('bash', ['-c', 'ulimit -Hn']).stdout.trim();
  return limit === 'unlimited' ? Number.POSITIVE_INFINITY : Number(limit);
}

/**
 * `--set` values for settings this host cannot run as written. HAProxy needs about
 * `2 * maxconn` + a few dozen file descriptors and refuses to start when the hard `nofile` limit
 * is lower ("Cannot raise FD limit"); IKS nodes allow 1048576, this machine's root 20000 (no
 * CAP_SYS_RESOURCE), so `haproxy.maxconn` is lowered to what fits, leaving 1000 descriptors spare.
 * Empty when the environment fits.
 */
export function hostLimitSets(config: { haproxy: { maxconn: number } }, nofile = hardNofileLimit()): string[] {
  const needed = 2 * config.haproxy.maxconn + 1000;
  return needed <= nofile ? [] : [`haproxy.maxconn=${Math.floor((nofile - 1000) / 2)}`];
}

/** Secret YAML with random values from `scripts/create-secrets.ts --env <env>` (stdout, nothing on disk). */
export async function secretsYaml(env: string): Promise<string> {
  const { stdout } = await execa(TSX, ['scripts/create-secrets.ts', '--env', env], { cwd: ROOT });
  return stdout;
}

/** Manifest files of a synthesized dir in apply (file name) order. */
export const manifestFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));

export interface ApplyOutcome {
  stdout: string;
  warnings: string[];
}

/** `kubectl apply --server-side` of files or stdin; resolves the API server warnings it printed. */
export async function serverSideApply(kubectl: Kubectl, source: { files: string[] } | { yaml: string }): Promise<ApplyOutcome> {
  const target = 'files' in source ? source.files.flatMap((f) => ['-f', f]) : ['-f', '-'];
  const { stdout, stderr } = await kubectl.run(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, ...target], {
    input: 'yaml' in source ? source.yaml : undefined,
  });
  return { stdout, warnings: warningsIn(stderr) };
}

/**
 * Deploys an environment the documented way: Namespace first, then the external Secrets
 * (`secrets`: YAML from `secretsYaml(env)`), then everything (`kubectl apply --server-side -f
 * dist/<env>`), or only the files `only` accepts. Resolves every warning printed.
 */
export async function deployEnvironment(kubectl: Kubectl, dir: string, secrets: string, only: (file: string) => boolean = () => true): Promise<string[]> {
  const all = manifestFiles(dir);
  const files = all.filter(only);
  const namespaceFiles = all.filter((f) => /-namespace-/.test(f));
  const warnings: string[] = [];
  warnings.push(...(await serverSideApply(kubectl, { files: namespaceFiles })).warnings);
  warnings.push(...(await serverSideApply(kubectl, { yaml: secrets })).warnings);
  warnings.push(...(await serverSideApply(kubectl, { files })).warnings);
  return warnings;
}

/**
 * Runs `script` under bash in a one-off pod `name` of `namespace` (restricted: UID 999, no
 * privilege escalation, every capability dropped, RuntimeDefault seccomp, `restartPolicy: Never`),
 * waits until it has finished (Succeeded or Failed), and returns its log lines; the pod is deleted
 * afterwards, also on failure. `image` needs bash (e.g. the environment's PostgreSQL image).
 * @throws Error when the pod has not finished within `timeoutMs`
 */
export async function runProbePod(kubectl: Kubectl, probe: { name: string; namespace: string; image: string; script: string; timeoutMs: number }): Promise<string[]> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: probe.name, namespace: probe.namespace },
    spec: {
      restartPolicy: 'Never',
      securityContext: { runAsNonRoot: true, runAsUser: 999, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'probe', image: probe.image, command: ['bash', '-c', probe.script], securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  };
  const at = ['-n', probe.namespace];
  await kubectl.run(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], { input: JSON.stringify(pod) });
  try {
    await waitFor(`${probe.name} finished`, async () => ['Succeeded', 'Failed'].includes((await kubectl.json<any>(['get', 'pod', probe.name, ...at])).status.phase), probe.timeoutMs, 500);
    return (await kubectl.run(['logs', probe.name, ...at])).stdout.trim().split('\n');
  } finally {
    await kubectl.run(['delete', 'pod', probe.name, ...at, '--wait=true'], { reject: false });
  }
}

const hasCondition = (obj: any, type: string) => obj?.status?.conditions?.some((c: any) => c.type === type && c.status === 'True') ?? false;

/** True when a Deployment's rollout is complete and every replica is ready and available. */
export function deploymentReady(d: any): boolean {
  const want = d.spec.replicas ?? 1;
  const s = d.status ?? {};
  return (s.observedGeneration ?? 0) >= d.metadata.generation && s.updatedReplicas === want && s.readyReplicas === want
    && s.availableReplicas === want && (s.replicas ?? 0) === want && hasCondition(d, 'Available');
}

/** True when a StatefulSet's pods are all ready at the current revision. */
export function statefulSetReady(s: any): boolean {
  const want = s.spec.replicas ?? 1;
  const st = s.status ?? {};
  return (st.observedGeneration ?? 0) >= s.metadata.generation && st.readyReplicas === want && st.updatedReplicas === want
    && st.currentRevision === st.updateRevision;
}

/**
 * Waits until every Deployment and StatefulSet among `objects` is ready.
 * @throws Error naming the workloads still not ready at the deadline.
 */
export async function waitForWorkloads(kubectl: Kubectl, namespace: string, objects: KubeObject[], timeoutMs = 240_000): Promise<void> {
  const names = (kind: string) => objects.filter((o) => o.kind === kind).map((o) => o.metadata.name);
  await waitFor(`workloads ready in ${namespace}`, async () => {
    const deployments = await kubectl.json<{ items: any[] }>(['get', 'deployments', '-n', namespace]);
    const statefulSets = await kubectl.json<{ items: any[] }>(['get', 'statefulsets', '-n', namespace]);
    const pending = [
      ...names('Deployment').filter((n) => !deployments.items.some((d) => d.metadata.name === n && deploymentReady(d))).map((n) => `Deployment/${n}`),
      ...names('StatefulSet').filter((n) => !statefulSets.items.some((s) => s.metadata.name === n && statefulSetReady(s))).map((n) => `StatefulSet/${n}`),
    ];
    if (pending.length > 0) throw new Error(`not ready: ${pending.join(', ')}`);
    return true;
  }, timeoutMs, 500);
}

/**
 * Streams `kubectl get <args> --watch --output-watch-events -o json` and calls `onEvent` for each
 * watch event ({type, object}). kubectl prints one pretty JSON document per event; documents are
 * split on balanced braces outside strings.
 */
export function watch(kubectl: Kubectl, args: string[], onEvent: (event: { type: string; object: any }) => void): { stop: () => void; ended: Promise<void> } {
  const child = spawn(kubectl.binary, ['--kubeconfig', kubectl.kubeconfig, 'get', ...args, '--watch', '--output-watch-events', '-o', 'json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffer = '';
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    for (const ch of chunk) {
      buffer += ch;
      if (inString) {
        if (escaped) escaped = false;
        else if (ch === '\\') escaped = true;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === '{') {
        if (depth === 0) start = buffer.length - 1;
        depth += 1;
      } else if (ch === '}') {
        depth -= 1;
        if (depth === 0) {
          onEvent(JSON.parse(buffer.slice(start)));
          buffer = '';
        }
      }
    }
  });
  let stopped = false;
  const ended = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    // kubectl traps SIGTERM and exits 1; only an exit we did not ask for is an error.
    child.on('exit', (code) => (stopped || code === 0 ? resolve() : reject(new Error(`kubectl watch exited ${code}: ${stderr}`))));
  });
  ended.catch(() => undefined); // surfaced to callers that await it, never as an unhandled rejection
  return {
    stop: () => {
      stopped = true;
      child.kill('SIGTERM');
    },
    ended,
  };
}
