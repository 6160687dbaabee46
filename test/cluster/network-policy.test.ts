/**
 * The chart's NetworkPolicies on a real node, where kube-router's policy controller enforces
 * them: Redis from `dist/local` behind `default-deny-ingress`/`default-deny-egress`, and client
 * pods that carry the labels of the chart's workloads. An allowed flow connects; a pod without
 * an allow is refused; and removing only the egress half of an allowed flow refuses it too
 * (the ingress allow alone lets nothing out of a namespace that denies egress).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../charts/synthesize.js';
import { startCluster, stopCluster, type TestCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import { secretsYaml, serverSideApply, synth, waitForWorkloads } from './support.js';

const NAMESPACE = 'expense-tracker';

let cluster: TestCluster;
let work: string;
let objects: KubeObject[];
const find = (kind: string, name: string): any => objects.find((o) => o.kind === kind && o.metadata.name === name);
const onExit = () => {
  if (cluster) for (const p of cluster.processes) try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
};

/** A restricted pod with the labels of `as` (a workload of the chart), running the Redis image's redis-cli. */
function clientPod(name: string, as: any): object {
  const redis = find('Deployment', 'redis').spec.template.spec.containers[0];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NAMESPACE, labels: { ...as.spec.selector.matchLabels } },
    spec: {
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      securityContext: { runAsNonRoot: true, runAsUser: 10999, runAsGroup: 10999, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'client',
          image: redis.image,
          imagePullPolicy: 'IfNotPresent',
          command: ['sleep', 'infinity'],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  };
}

/** Whether `pod` gets an answer from Redis's Service within 5 s (any answer, NOAUTH included). */
async function reachesRedis(pod: string): Promise<boolean> {
  const r = await cluster.kubectl.run(['exec', '-n', NAMESPACE, pod, '--', 'timeout', '5', 'redis-cli', '-h', 'redis', '-p', '6379', 'ping'], { reject: false });
  return r.exitCode === 0 && /NOAUTH|PONG/.test(r.stdout);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'expense-tracker-network-policy-'));
  process.on('exit', onExit);
  cluster = await startCluster({ dir: join(work, 'cluster'), realNode: true });
  ({ objects } = await synth('local', join(work, 'dist')));
  const wanted = objects.filter((o) => o.kind === 'Namespace' || o.kind === 'NetworkPolicy' || (['Deployment', 'Service'].includes(o.kind) && o.metadata.name === 'redis'));
  await serverSideApply(cluster.kubectl, { yaml: wanted.filter((o) => o.kind === 'Namespace').map((o) => JSON.stringify(o)).join('\n---\n') });
  await serverSideApply(cluster.kubectl, { yaml: await secretsYaml('local') });
  await serverSideApply(cluster.kubectl, { yaml: wanted.filter((o) => o.kind !== 'Namespace').map((o) => JSON.stringify(o)).join('\n---\n') });
  await serverSideApply(cluster.kubectl, { yaml: [clientPod('as-web', find('Deployment', 'expense-web')), clientPod('as-haproxy', find('Deployment', 'haproxy'))].map((o) => JSON.stringify(o)).join('\n---\n') });
  await waitForWorkloads(cluster.kubectl, NAMESPACE, wanted.filter((o) => o.kind === 'Deployment'));
  await cluster.kubectl.run(['wait', '-n', NAMESPACE, '--for=condition=Ready', 'pod/as-web', 'pod/as-haproxy', '--timeout=180s']);
}, 900_000);

afterAll(async () => {
  process.off('exit', onExit);
  if (work) {
    await stopCluster(join(work, 'cluster'));
    rmSync(work, { recursive: true, force: true });
  }
}, 300_000);

describe('NetworkPolicies of dist/local on a real node', () => {
  it('resolves names for every pod (allow-dns-egress)', async () => {
    for (const pod of ['as-web', 'as-haproxy']) {
      const r = await cluster.kubectl.run(['exec', '-n', NAMESPACE, pod, '--', 'getent', 'hosts', 'redis'], { reject: false });
      expect(r.exitCode, `${pod}: ${r.stderr}`).toBe(0);
    }
  });

  it('lets the web pods reach Redis and refuses a pod without an allow', async () => {
    // Retried while kube-router programs the policies of pods it has just seen.
    let allowed = false;
    for (let i = 0; i < 10 && !allowed; i++) allowed = await reachesRedis('as-web');
    expect(allowed).toBe(true);
    expect(await reachesRedis('as-haproxy')).toBe(false);
  });

  it('refuses web → Redis once only the egress half of the flow is removed, and allows it again when restored', async () => {
    const egress = find('NetworkPolicy', 'allow-web-to-redis-egress');
    await cluster.kubectl.run(['delete', 'networkpolicy', '-n', NAMESPACE, egress.metadata.name]);
    let denied = false;
    for (let i = 0; i < 10 && !denied; i++) denied = !(await reachesRedis('as-web'));
    expect(denied).toBe(true);
    await serverSideApply(cluster.kubectl, { yaml: JSON.stringify(egress) });
    let allowed = false;
    for (let i = 0; i < 10 && !allowed; i++) allowed = await reachesRedis('as-web');
    expect(allowed).toBe(true);
  });
});
