/**
 * `pulumi up` for real: the `ci` stack deployed by the Pulumi CLI and Kubernetes provider built
 * from the Go module proxy (`npm run pulumi-tools`) to a real-node test cluster
 * (testkit/src/test-cluster), fully offline: file backend in a temp dir, passphrase secrets, a temp
 * PULUMI_HOME with the provider installed from file, no update checks, no plugin downloads.
 *
 * Pulumi's Ingress await logic waits for `status.loadBalancer.ingress`: the cluster's Ingress
 * controller (Traefik) publishes it, as minikube's ingress addon does. The app then answers
 * through that Ingress.
 */
import type { Stack } from '@pulumi/pulumi/automation/index.js';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRETS } from '@expense-tracker/model/app-contract';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { synthesizeEnvironment, type KubeObject } from '../../charts/synthesize.js';
import { openOfflineCiStack, type OfflineCiStack } from './pulumi-offline.js';
import { startCluster, type TestCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import { waitFor } from '@expense-tracker/testkit/test-cluster/kubectl';
import { ensureClusterImages } from '@expense-tracker/testkit/test-cluster/node/images';
import { ingressGet } from './ingress.js';
import { deploymentReady, statefulSetReady } from './support.js';

const IMAGE = 'localhost:5000/expense-tracker:0.1.0';
/** Secret values set as Pulumi secret config; none may appear in plaintext in the state. */
const SECRET_VALUES = {
  postgresPassword: 'pg-Secret-7d1e5b2c9a',
  redisPassword: 'redis-Secret-4f8a0c3e61',
  sessionSecret: 'session-Secret-0123456789abcdef0123456789abcdef',
  sendgridApiKey: 'SG.test-Secret-key-55aa',
};

const progress = (m: string) => process.stderr.write(`[pulumi.test] ${m}\n`);

let cluster: TestCluster;
let stack: Stack;
let offline: OfflineCiStack | undefined;
let stateDir: string;
const log: string[] = [];

function expectedObjects(set: string[] = []): KubeObject[] {
  return synthesizeEnvironment(loadEnvironment('local', { set: [...set, 'image.repository=localhost:5000/expense-tracker'], imageTag: '0.1.0' }));
}

async function exists(obj: KubeObject): Promise<boolean> {
  const group = obj.apiVersion.includes('/') ? obj.apiVersion.split('/')[0] : '';
  const args = ['get', group ? `${obj.kind.toLowerCase()}.${group}` : obj.kind.toLowerCase(), obj.metadata.name];
  if (obj.metadata.namespace) args.push('-n', obj.metadata.namespace);
  const result = await cluster.kubectl.run(args, { reject: false });
  if (result.exitCode !== 0 && !/NotFound|not found/.test(result.stderr)) throw new Error(result.stderr);
  return result.exitCode === 0;
}

/** Every file of the state backend, concatenated (stacks, history, backups). */
function stateText(): string {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [readFileSync(join(dir, f), 'utf8')]));
  return walk(stateDir).join('\n');
}

beforeAll(async () => {
  await ensureClusterImages({ progress, appImages: [IMAGE] });
  progress('starting the test cluster');
  cluster = await startCluster({ progress, ingressNamespace: loadEnvironment('local').ingressControllerNamespace });
  offline = await openOfflineCiStack({ kubeconfig: cluster.kubeconfig, image: IMAGE, secrets: SECRET_VALUES, progress });
  stack = offline.stack;
  stateDir = offline.stateDir;
}, 3_000_000);

afterAll(async () => {
  if (stack) await stack.destroy({ onOutput: (o) => log.push(o) }).catch(() => undefined);
  await cluster?.stop();
  offline?.cleanup();
}, 600_000);

const onOutput = (o: string) => {
  log.push(o);
  progress(o.trimEnd());
};

describe('pulumi up of the ci stack against the test control plane', () => {
  it('keeps secrets out of the stack file', () => {
    const stackFile = readFileSync(join(stack.workspace.workDir, 'Pulumi.ci.yaml'), 'utf8');
    for (const value of Object.values(SECRET_VALUES)) expect(stackFile).not.toContain(value);
    expect(stackFile).toMatch(/secure: /);
  });

  it('preview plans every chart object, the Secrets and the provider', async () => {
    const objects = expectedObjects();
    const result = await stack.preview({ onOutput });
    // + Stack, ExpenseTrackerDeployment component, kubernetes provider, 3 Secrets.
    expect(result.changeSummary).toEqual({ create: objects.length + 3 + 3 });
  });

  it('up creates exactly the chart objects plus the Secrets, and completes when workloads are ready', async () => {
    const objects = expectedObjects();
    const result = await stack.up({ onOutput });
    expect(result.summary.result).toBe('succeeded');
    expect(result.summary.resourceChanges).toEqual({ create: objects.length + 6 });
    // Pulumi's await logic returned only after readiness: check without waiting.
    for (const obj of objects) expect(await exists(obj), `${obj.kind} ${obj.metadata.name}`).toBe(true);
    const deployments = await cluster.kubectl.json<{ items: any[] }>(['get', 'deployments', '-n', 'expense-tracker']);
    const statefulSets = await cluster.kubectl.json<{ items: any[] }>(['get', 'statefulsets', '-n', 'expense-tracker']);
    expect(deployments.items.map((d) => `${d.metadata.name} ready=${deploymentReady(d)}`).sort()).toEqual(
      objects.filter((o) => o.kind === 'Deployment').map((o) => `${o.metadata.name} ready=true`).sort(),
    );
    expect(statefulSets.items.map((s) => `${s.metadata.name} ready=${statefulSetReady(s)}`).sort()).toEqual(
      objects.filter((o) => o.kind === 'StatefulSet').map((o) => `${o.metadata.name} ready=true`).sort(),
    );
    const postgres = await cluster.kubectl.json<any>(['get', 'secret', SECRETS.postgres.name, '-n', 'expense-tracker']);
    expect(Buffer.from(postgres.data[SECRETS.postgres.keys.password], 'base64').toString()).toBe(SECRET_VALUES.postgresPassword);
    const app = await cluster.kubectl.json<any>(['get', 'secret', SECRETS.app.name, '-n', 'expense-tracker']);
    expect(Buffer.from(app.data[SECRETS.app.keys.sendgridApiKey], 'base64').toString()).toBe(SECRET_VALUES.sendgridApiKey);
    const web = deployments.items.find((d) => d.metadata.name === 'expense-web');
    expect(web.spec.template.spec.containers[0].image).toBe(IMAGE);
    // The Ingress controller published the status Pulumi waited for, and the app answers through it.
    const ingress = await cluster.kubectl.json<any>(['get', 'ingress', 'expense-web', '-n', 'expense-tracker']);
    expect(ingress.status.loadBalancer.ingress).toEqual([{ ip: '127.0.0.1' }]);
    // HAProxy finds the web pods through the headless Service's DNS, which trails the Ready pods by
    // up to the DNS TTL plus HAProxy's `hold valid` (docs/haproxy.md), so the answer is awaited.
    await waitFor('the app through the Ingress', async () => {
      const login = await ingressGet(cluster.ingressUrl!, loadEnvironment('local').ingress.host, '/login').catch(() => undefined);
      return login?.status === 200;
    }, 90_000, 500);
  });

  it('stores no plaintext secret value in the state', async () => {
    const state = stateText();
    expect(state).toContain('expense-tracker/postgres-credentials'); // the Secret is in the state
    for (const [key, value] of Object.entries(SECRET_VALUES)) {
      expect(state, key).not.toContain(value);
      expect(state, key).not.toContain(Buffer.from(value).toString('base64'));
    }
    expect(state).toContain('1b47061264138c4ac30d75fd1eb44270'); // Pulumi's secret marker
  });

  it('a second up changes nothing', async () => {
    const result = await stack.up({ onOutput, expectNoChanges: true });
    expect(Object.keys(result.summary.resourceChanges ?? {})).toEqual(['same']);
  });

  it('changing the web replica count updates only the web Deployment', async () => {
    await stack.setConfig('set', { value: JSON.stringify(['web.replicas=3']) });
    const updated: string[] = [];
    const result = await stack.up({
      onOutput,
      onEvent: (event) => {
        const pre = event.resourcePreEvent?.metadata;
        if (pre && pre.op !== 'same') updated.push(`${pre.op} ${pre.type} ${pre.urn.split('::').pop()}`);
      },
    });
    expect(updated).toEqual(['update kubernetes:apps/v1:Deployment expense-tracker/expense-web']);
    expect(result.summary.resourceChanges?.update).toBe(1);
    const web = await cluster.kubectl.json<any>(['get', 'deployment', 'expense-web', '-n', 'expense-tracker']);
    expect(web.spec.replicas).toBe(3);
    expect(deploymentReady(web)).toBe(true);
  });

  it('destroy removes everything the stack created', async () => {
    const objects = expectedObjects(['web.replicas=3']);
    const result = await stack.destroy({ onOutput });
    expect(result.summary.result).toBe('succeeded');
    expect(result.summary.resourceChanges).toEqual({ delete: objects.length + 6 });
    await waitFor('every object gone', async () => {
      for (const obj of objects) if (await exists(obj)) return false;
      return true;
    }, 120_000, 500);
    const secrets = await cluster.kubectl.run(['get', 'secrets', '-n', 'expense-tracker', '-o', 'name'], { reject: false });
    expect(secrets.stdout).not.toMatch(/postgres-credentials|redis-credentials|expense-app/);
  });
});
