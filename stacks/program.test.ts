/**
 * Unit tests of the Pulumi program with `pulumi.runtime.setMocks`: which resources each
 * stack registers, their key inputs, provider wiring, secrets, and that the deployed objects
 * are exactly the chart's objects for the environment.
 */
import * as pulumi from '@pulumi/pulumi';
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import { SECRETS } from '@expense-tracker/model/app-contract';
import { type EnvironmentConfig, loadEnvironment } from '@expense-tracker/model/environment';
import { secretSpecs } from '../charts/secrets.js';
import { synthesizeEnvironment, type KubeObject } from '../charts/synthesize.js';
import { pulumiInputs, resourceNameFor, SKIP_AWAIT_ANNOTATION } from './expense-tracker-deployment.js';
import { iksStack, kubeconfigStack, minikubeStack, program, type StackOutputs } from './program.js';

// Dynamic providers are serialized into resource inputs with Pulumi's closure serializer,
// which cannot serialize code transformed by vitest (its `import()` becomes a vite helper
// capturing `this`). Here the serializer is replaced by a stub naming the provider's
// methods; stacks/ibm/serialization.test.ts serializes the real providers under tsx.
const serializeClosure = createRequire(import.meta.url)('@pulumi/pulumi/runtime/closure/serializeClosure.js') as {
  serializeFunction: (fn: () => object) => Promise<{ text: string; exportName: string; containsSecrets: boolean }>;
};
vi.spyOn(serializeClosure, 'serializeFunction').mockImplementation(async (fn) => ({
  text: `provider methods: ${Object.keys(fn()).sort().join(',')}`,
  exportName: 'handler',
  containsSecrets: false,
}));

/** The secret marker the Pulumi runtime uses in serialized property values. */
const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, any>;
  provider?: string;
  id: string;
}

/** Installs mocks for a stack with the given config; returns the registry of resources. */
async function mockStack(stack: string, config: Record<string, unknown>, secretKeys: string[] = []): Promise<Registered[]> {
  const registered: Registered[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const id = `${args.name}-id`;
        registered.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider, id });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === 'docker:index/image:Image') state.repoDigest = `${String(args.inputs.imageName).replace(/:[^:/]+$/, '')}@sha256:${'a'.repeat(64)}`;
        if (args.type === 'random:index/randomPassword:RandomPassword') state.result = `generated-${args.name}`;
        if (args.type === 'docker:index/remoteImage:RemoteImage') state.imageId = 'sha256:registry';
        if (args.type === 'pulumi-nodejs:dynamic/expense:IcrNamespace') state.registry = new URL(args.inputs.endpoints?.registry ?? 'https://us.icr.io').host;
        if (args.type === 'pulumi-nodejs:dynamic/expense:IksCluster') Object.assign(state, { clusterId: 'c-1', state: 'normal', kubeconfig: 'apiVersion: v1\nkind: Config\n', ingressHostname: 'expense.appdomain.cloud' });
        return { id, state };
      },
      call: (args) => args.inputs,
    },
    'expense-tracker',
    stack,
    false,
  );
  const all: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) all[`expense-tracker:${key}`] = typeof value === 'string' ? value : JSON.stringify(value);
  pulumi.runtime.setAllConfig(all, secretKeys.map((k) => `expense-tracker:${k}`));
  return registered;
}

/** Waits until every output of the program resolved and registrations stopped arriving (deadline 15 s). */
async function settle(outputs: StackOutputs, registered: Registered[]): Promise<void> {
  await new Promise<void>((resolve) => pulumi.output(outputs).apply(() => resolve()));
  const deadline = Date.now() + 15_000;
  let stableRounds = 0;
  let last = -1;
  while (stableRounds < 5) {
    if (Date.now() > deadline) throw new Error(`registrations did not settle (${registered.length} so far)`);
    await new Promise((r) => setTimeout(r, 20));
    stableRounds = registered.length === last ? stableRounds + 1 : 0;
    last = registered.length;
  }
}

/** Pulumi type token of a chart object's typed resource. */
function typeToken(obj: KubeObject): string {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['core', obj.apiVersion];
  return `kubernetes:${group}/${version}:${obj.kind}`;
}

function isSecretValue(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)['4dabf18193072939515e22adb298388d'] === SECRET_SIG;
}

function unwrap(value: any): any {
  return isSecretValue(value) ? value.value : value;
}

/** Asserts the registered kubernetes objects (Secrets aside) are exactly `expected`, field by field. */
function expectExactlyChartObjects(registered: Registered[], expected: KubeObject[], providerName: string): void {
  const k8sObjects = registered.filter((r) => r.type.startsWith('kubernetes:') && r.type !== 'kubernetes:core/v1:Secret');
  expect(k8sObjects.map((r) => `${r.type} ${r.name}`).sort()).toEqual(expected.map((o) => `${typeToken(o)} ${resourceNameFor(o)}`).sort());
  for (const obj of expected) {
    const r = k8sObjects.find((x) => x.type === typeToken(obj) && x.name === resourceNameFor(obj))!;
    // The chart's object unchanged, except Pulumi's skipAwait on ClusterIP/NodePort Services.
    expect(r.inputs, `${obj.kind} ${obj.metadata.name}`).toEqual(pulumiInputs(obj));
    const { [SKIP_AWAIT_ANNOTATION]: skipAwait, ...annotations } = r.inputs.metadata.annotations ?? {};
    expect(skipAwait, `${obj.kind} ${obj.metadata.name} skipAwait`).toBe(obj.kind === 'Service' && (obj.spec as { type?: string } | undefined)?.type !== 'LoadBalancer' ? 'true' : undefined);
    expect(annotations).toEqual(obj.metadata.annotations ?? {});
    expect(r.provider, `${obj.kind} ${obj.metadata.name} provider`).toMatch(new RegExp(`::${providerName}::`));
  }
}

/** Asserts the environment's Secrets (`secretSpecs`) exist with their names/keys and secret-wrapped stringData. */
function expectSecrets(registered: Registered[], env: EnvironmentConfig, providerName: string): Record<string, Record<string, string>> {
  const specs = secretSpecs(env);
  const secrets = registered.filter((r) => r.type === 'kubernetes:core/v1:Secret');
  expect(secrets.map((s) => s.inputs.metadata.name).sort()).toEqual(specs.map((s) => s.name).sort());
  const values: Record<string, Record<string, string>> = {};
  for (const s of secrets) {
    expect(s.inputs.metadata.namespace).toBe(env.namespace);
    expect(s.inputs.metadata.labels).toEqual({ 'app.kubernetes.io/part-of': 'expense-tracker', 'app.kubernetes.io/instance': expect.stringMatching(/^expense-tracker-/) });
    expect(s.provider).toMatch(new RegExp(`::${providerName}::`));
    expect(isSecretValue(s.inputs.stringData), `${s.inputs.metadata.name} stringData is a Pulumi secret`).toBe(true);
    values[s.inputs.metadata.name] = unwrap(s.inputs.stringData);
  }
  for (const spec of specs) expect(Object.keys(values[spec.name]).sort(), spec.name).toEqual(Object.keys(spec.keys).sort());
  expect(Object.keys(values[SECRETS.postgres.name]).sort()).toEqual(Object.values(SECRETS.postgres.keys).sort());
  return values;
}

/** HMAC keys of ibm's backup repository (secret config, required by postgres.backup.enabled). */
const backupKeys = { backupS3AccessKey: 'cos-access', backupS3SecretKey: 'cos-secret' };

describe('target kubeconfig (stack ci)', () => {
  const image = 'registry.test:5000/expense-tracker:1.4.2';

  it('deploys exactly the local chart with the configured image on the given kubeconfig/context', async () => {
    const registered = await mockStack('ci', { target: 'kubeconfig', environment: 'local', image, kubeconfig: '/tmp/kubeconfig', kubeContext: 'test-cluster', set: ['web.replicas=3'] }, ['kubeconfig']);
    const outputs = kubeconfigStack();
    await settle(outputs, registered);

    const provider = registered.find((r) => r.type === 'pulumi:providers:kubernetes')!;
    expect(provider.name).toBe('ci');
    expect(unwrap(provider.inputs.kubeconfig)).toBe('/tmp/kubeconfig');
    expect(provider.inputs.context).toBe('test-cluster');

    const env = loadEnvironment('local', { set: ['web.replicas=3', 'image.repository=registry.test:5000/expense-tracker'], imageTag: '1.4.2' });
    const expected = synthesizeEnvironment(env);
    expectExactlyChartObjects(registered, expected, 'ci');
    const web = registered.find((r) => r.type === 'kubernetes:apps/v1:Deployment' && r.name === 'expense-tracker/expense-web')!;
    expect(web.inputs.spec.replicas).toBe(3);
    expect(web.inputs.spec.template.spec.containers[0].image).toBe(image);

    const values = expectSecrets(registered, env, 'ci');
    expect(values[SECRETS.postgres.name].password).toBe('generated-postgres-password');
    expect(values[SECRETS.postgres.name].username).toBe(env.postgres.username);
    expect(registered.filter((r) => r.type === 'random:index/randomPassword:RandomPassword').map((r) => r.inputs.length).sort()).toEqual([32, 32, 48]);
    expect(registered.some((r) => r.type.startsWith('docker:'))).toBe(false);
    expect(registered.find((r) => r.type === 'expense:index:ExpenseTrackerDeployment')).toBeDefined();
  });

  it('uses secret config instead of random passwords when set', async () => {
    const registered = await mockStack('ci', { target: 'kubeconfig', environment: 'local', image, postgresPassword: 'pg-from-config', sendgridApiKey: 'SG.from-config' }, ['postgresPassword', 'sendgridApiKey']);
    await settle(kubeconfigStack(), registered);
    const values = expectSecrets(registered, loadEnvironment('local'), 'ci');
    expect(values[SECRETS.postgres.name].password).toBe('pg-from-config');
    expect(values[SECRETS.app.name][SECRETS.app.keys.sendgridApiKey]).toBe('SG.from-config');
    expect(registered.filter((r) => r.type === 'random:index/randomPassword:RandomPassword').map((r) => r.name).sort()).toEqual(['redis-password', 'session-secret']);
  });

  it('orders objects: namespaced objects depend on the Namespace (registered first)', async () => {
    const registered = await mockStack('ci', { target: 'kubeconfig', environment: 'local', image });
    await settle(kubeconfigStack(), registered);
    const k8sTypes = registered.filter((r) => r.type.startsWith('kubernetes:')).map((r) => r.type);
    expect(k8sTypes[0]).toBe('kubernetes:core/v1:Namespace');
  });

  it('rejects a missing or malformed image naming the config key', async () => {
    await mockStack('ci', { target: 'kubeconfig', environment: 'local' });
    expect(() => kubeconfigStack()).toThrow(/expense-tracker:image: required for target kubeconfig/);
    await mockStack('ci', { target: 'kubeconfig', environment: 'local', image: 'registry.test/expense-tracker' });
    expect(() => kubeconfigStack()).toThrow(/expense-tracker:image: "registry.test\/expense-tracker" must be an image reference "repository:tag\[@digest\]"/);
    await mockStack('ci', { target: 'kubeconfig', environment: 'local', image, set: ['web.replicas=0'] });
    expect(() => kubeconfigStack()).toThrow(/web\.replicas: must be at least 1/);
  });

  it('program() dispatches by the typed target, whatever the stack is called', async () => {
    await mockStack('staging', { target: 'mars', environment: 'local' });
    await expect(program()).rejects.toThrow(/expense-tracker:target: unknown target "mars"; one of minikube, iks, kubeconfig/);
    await mockStack('staging', { environment: 'local' });
    await expect(program()).rejects.toThrow(/expense-tracker:target: required/);
    await mockStack('staging', { target: 'kubeconfig', image });
    await expect(program()).rejects.toThrow(/expense-tracker:environment: required/);
    const registered = await mockStack('staging', { target: 'kubeconfig', environment: 'ibm', image, ...backupKeys }, Object.keys(backupKeys));
    await settle(await program(), registered);
    expect(registered.find((r) => r.type === 'kubernetes:apps/v1:Deployment' && r.name === 'expense-tracker/expense-web')!.inputs.spec.replicas).toBe(3);
  });
});

describe('target minikube (stack local)', () => {
  it('builds the registry on 127.0.0.1, pushes the image and deploys the local chart on minikube', async () => {
    const registered = await mockStack('local', { target: 'minikube', environment: 'local', minikube: { context: 'minikube', start: true, cpus: 2, memoryMiB: 4096 }, image: 'ignored:2.0.0' });
    const outputs = minikubeStack();
    await settle(outputs, registered);

    const container = registered.find((r) => r.type === 'docker:index/container:Container')!;
    expect(container.inputs.ports).toEqual([{ internal: 5000, external: 5000, ip: '127.0.0.1', protocol: 'tcp' }]);
    expect(container.inputs.networksAdvanced).toEqual([{ name: 'minikube', aliases: ['expense-registry'] }]);
    expect(container.inputs.volumes).toEqual([{ volumeName: 'expense-registry-data', containerPath: '/var/lib/registry' }]);
    expect(registered.find((r) => r.type === 'docker:index/remoteImage:RemoteImage')?.inputs.name).toBe('registry:2');

    const image = registered.find((r) => r.type === 'docker:index/image:Image')!;
    expect(image.inputs.imageName).toBe('localhost:5000/expense-tracker:2.0.0');
    expect(image.inputs.build.dockerfile).toMatch(/app\/Dockerfile$/);
    expect(image.inputs.registry.server).toBe('localhost:5000');

    const cluster = registered.find((r) => r.name === 'minikube-cluster')!;
    expect(cluster.type).toBe('pulumi-nodejs:dynamic/expense:MinikubeCluster');
    expect(cluster.inputs).toMatchObject({ profile: 'minikube', cpus: 2, memoryMiB: 4096, insecureRegistries: ['expense-registry:5000'], addons: ['ingress'] });

    const provider = registered.find((r) => r.type === 'pulumi:providers:kubernetes')!;
    expect(provider.name).toBe('minikube-provider');
    expect(provider.inputs.context).toBe('minikube');

    const env = loadEnvironment('local', { set: ['image.repository=expense-registry:5000/expense-tracker'], imageTag: '2.0.0' });
    expectExactlyChartObjects(registered, synthesizeEnvironment(env), 'minikube-provider');
    expectSecrets(registered, env, 'minikube-provider');
    const resolved = await new Promise<Record<string, unknown>>((r) => pulumi.output(outputs).apply((o) => r(o as Record<string, unknown>)));
    expect(resolved.imageRef).toMatch(/^localhost:5000\/expense-tracker@sha256:[a]{64}$/);
    expect(resolved.url).toBe('http://expense.local/');
  });

  it('uses an already running minikube when start is false', async () => {
    const registered = await mockStack('local', { target: 'minikube', environment: 'local' });
    await settle(minikubeStack(), registered);
    expect(registered.some((r) => r.name === 'minikube-cluster')).toBe(false);
    expect(registered.find((r) => r.type === 'pulumi:providers:kubernetes')?.inputs.context).toBe('minikube');
  });

  it('names an invalid field of an object-valued key', async () => {
    await mockStack('local', { target: 'minikube', environment: 'local', registry: { port: 80 } });
    expect(() => minikubeStack()).toThrow(/expense-tracker:registry\.port: /);
  });
});

describe('target iks (stack ibm)', () => {
  const ibm = {
    cluster: { name: 'expense', vpcId: 'r006-1', flavor: 'bx2.4x16', workerCount: 2, zones: [{ id: 'us-south-1', subnetId: '0717-1' }] },
    registry: { namespace: 'expense-ns', accountId: 'acc-1' },
  };

  it('creates IKS + ICR through dynamic providers, pushes to ICR and deploys the ibm chart on the cluster', async () => {
    const registered = await mockStack('ibm', { target: 'iks', environment: 'ibm', ibm, ibmApiKey: 'ibm-key-secret', sendgridApiKey: 'SG.x', image: 'x:3.1.0', ...backupKeys }, ['ibmApiKey', 'sendgridApiKey', ...Object.keys(backupKeys)]);
    const outputs = iksStack();
    await settle(outputs, registered);

    const iks = registered.find((r) => r.name === 'ibm-iks')!;
    expect(iks.type).toBe('pulumi-nodejs:dynamic/expense:IksCluster');
    expect(iks.inputs.__provider).toBe('provider methods: check,create,delete,diff,read,update');
    expect(iks.inputs).toMatchObject({ name: 'expense', vpcId: 'r006-1', flavor: 'bx2.4x16', workerCount: 2 });
    expect(isSecretValue(iks.inputs.apiKey)).toBe(true);
    const icr = registered.find((r) => r.name === 'ibm-icr')!;
    expect(icr.inputs).toMatchObject({ name: 'expense-ns', accountId: 'acc-1' });
    expect(isSecretValue(icr.inputs.apiKey)).toBe(true);

    const provider = registered.find((r) => r.type === 'pulumi:providers:kubernetes')!;
    expect(provider.name).toBe('ibm-provider');
    expect(isSecretValue(provider.inputs.kubeconfig)).toBe(true);
    expect(unwrap(provider.inputs.kubeconfig)).toBe('apiVersion: v1\nkind: Config\n');

    const image = registered.find((r) => r.type === 'docker:index/image:Image')!;
    expect(image.inputs.imageName).toBe('us.icr.io/expense-ns/expense-tracker:3.1.0');
    const registry = unwrap(image.inputs.registry);
    expect(registry.username).toBe('iamapikey');
    expect(registry.server).toBe('us.icr.io');
    expect(isSecretValue(image.inputs.registry) || isSecretValue(registry.password)).toBe(true);

    const env = loadEnvironment('ibm', { set: ['image.repository=us.icr.io/expense-ns/expense-tracker'], imageTag: '3.1.0' });
    expectExactlyChartObjects(registered, synthesizeEnvironment(env), 'ibm-provider');
    expectSecrets(registered, env, 'ibm-provider');
  });

  it('brings your own cluster by kubeconfig: no IKS resource', async () => {
    const registered = await mockStack('ibm', { target: 'iks', environment: 'ibm', ibm, ibmApiKey: 'k', sendgridApiKey: 'SG.x', kubeconfig: 'apiVersion: v1\nkind: Config\n', ...backupKeys }, ['ibmApiKey', 'sendgridApiKey', 'kubeconfig', ...Object.keys(backupKeys)]);
    await settle(iksStack(), registered);
    expect(registered.some((r) => r.name === 'ibm-iks')).toBe(false);
    const provider = registered.find((r) => r.type === 'pulumi:providers:kubernetes')!;
    expect(isSecretValue(provider.inputs.kubeconfig)).toBe(true);
  });

  it('requires the API key and the SendGrid key, naming the config keys', async () => {
    await mockStack('ibm', { target: 'iks', environment: 'ibm', ibm, sendgridApiKey: 'SG.x' }, ['sendgridApiKey']);
    expect(() => iksStack()).toThrow(/expense-tracker:ibmApiKey: required/);
    await mockStack('ibm', { target: 'iks', environment: 'ibm', ibm, ibmApiKey: 'k' }, ['ibmApiKey']);
    expect(() => iksStack()).toThrow(/expense-tracker:sendgridApiKey: required/);
    await mockStack('ibm', { target: 'iks', environment: 'ibm', ibm: { ...ibm, registry: { namespace: 'n' } }, ibmApiKey: 'k' }, ['ibmApiKey']);
    expect(() => iksStack()).toThrow(/expense-tracker:ibm\.registry\.accountId: /);
  });

  it('requires the backup repository\'s HMAC keys when ibm backs up, naming the config keys', async () => {
    await mockStack('ibm', { target: 'iks', environment: 'ibm', ibm, ibmApiKey: 'k', sendgridApiKey: 'SG.x' }, ['ibmApiKey', 'sendgridApiKey']);
    expect(() => iksStack()).toThrow(/expense-tracker:backupS3AccessKey: required by postgres\.backup\.enabled/);
    await mockStack('ibm', { target: 'iks', environment: 'ibm', ibm, ibmApiKey: 'k', sendgridApiKey: 'SG.x', backupS3AccessKey: 'a' }, ['ibmApiKey', 'sendgridApiKey', 'backupS3AccessKey']);
    expect(() => iksStack()).toThrow(/expense-tracker:backupS3SecretKey: required/);
  });
});
