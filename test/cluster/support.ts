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
import { execa } from 'execa';
import type { KubeObject } from '../../charts/synthesize.js';
import { readManifests } from '../../scripts/lib/manifests.js';
import { warningsIn, waitFor, type Kubectl } from '@expense-tracker/testkit/test-cluster/kubectl';

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
 * dist/<env>`). Resolves every warning printed.
 */
export async function deployEnvironment(kubectl: Kubectl, dir: string, secrets: string): Promise<string[]> {
  const files = manifestFiles(dir);
  const namespaceFiles = files.filter((f) => /-namespace-/.test(f));
  const warnings: string[] = [];
  warnings.push(...(await serverSideApply(kubectl, { files: namespaceFiles })).warnings);
  warnings.push(...(await serverSideApply(kubectl, { yaml: secrets })).warnings);
  warnings.push(...(await serverSideApply(kubectl, { files })).warnings);
  return warnings;
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
