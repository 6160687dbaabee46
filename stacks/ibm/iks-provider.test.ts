/**
 * Contract tests of the IKS/ICR dynamic providers against a local fake of IBM's IAM, IKS and
 * ICR APIs (`fake-ibm-cloud.ts`, written from IBM's API docs).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startFakeIbmCloud, type FakeIbmCloud } from './fake-ibm-cloud.js';
import { IamTokenSource, IbmApiError } from './ibm-api.js';
import { createCluster, deleteCluster, type Clock, type IksClusterArgs } from './iks-operations.js';
import { icrNamespaceProvider, iksClusterProvider } from './providers.js';

const API_KEY = 'test-apikey-0123456789-SECRET-abcdefghij';

let fake: FakeIbmCloud;
const output: string[] = [];

beforeAll(async () => {
  fake = await startFakeIbmCloud({ apiKey: API_KEY });
  for (const stream of ['log', 'error', 'warn', 'info'] as const) {
    vi.spyOn(console, stream).mockImplementation((...args: unknown[]) => {
      output.push(args.map(String).join(' '));
    });
  }
});
afterAll(async () => {
  vi.restoreAllMocks();
  await fake?.close();
  // Nothing the providers printed, in any test, may contain the API key.
  expect(output.join('\n')).not.toContain(API_KEY);
});
afterEach(() => {
  fake.clusters.clear();
  fake.namespaces.clear();
  fake.requests.length = 0;
});

function clusterArgs(overrides: Partial<IksClusterArgs> = {}): IksClusterArgs {
  return {
    name: 'expense',
    vpcId: 'r006-1111',
    flavor: 'bx2.4x16',
    workerCount: 2,
    zones: [{ id: 'us-south-1', subnetId: '0717-aaaa' }],
    apiKey: API_KEY,
    endpoints: fake.endpoints,
    pollIntervalSeconds: 0,
    readyTimeoutSeconds: 30,
    ...overrides,
  };
}

/** Asserts an error quotes IBM's message and a request id but never the API key. */
async function expectIbmError(promise: Promise<unknown>, message: RegExp): Promise<IbmApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(IbmApiError);
  const ibm = error as IbmApiError;
  expect(ibm.message).toMatch(message);
  expect(ibm.message).toMatch(/request id \S+/);
  expect(ibm.requestId).toBeTruthy();
  expect(`${ibm.message} ${ibm.stack} ${JSON.stringify(ibm)}`).not.toContain(API_KEY);
  return ibm;
}

describe('IAM token exchange', () => {
  it('exchanges the API key once and sends the token as a Bearer header to IKS', async () => {
    const before = fake.tokensIssued;
    const { id, outs } = await iksClusterProvider.create!(clusterArgs());
    expect(fake.tokensIssued - before).toBe(1);
    const token = fake.requests.find((r) => r.path === '/identity/token');
    expect(token?.body).toContain('grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey');
    const iks = fake.requests.filter((r) => r.path.startsWith('/global/'));
    expect(iks.length).toBeGreaterThan(0);
    for (const r of iks) {
      expect(r.headers.authorization).toMatch(/^Bearer tok-/);
      expect(JSON.stringify(r.headers) + r.path + r.body).not.toContain(API_KEY);
    }
    expect(id).toBe(outs.clusterId);
  });

  it('refreshes the token after 80% of its lifetime, not before', async () => {
    let now = 1_000_000;
    const local = await startFakeIbmCloud({ apiKey: API_KEY, tokenLifetimeSeconds: 100, now: () => now });
    try {
      const tokens = new IamTokenSource({ apiKey: API_KEY, iamEndpoint: local.endpoints.iam, now: () => now });
      const first = await tokens.accessToken();
      now += 79_000;
      expect(await tokens.accessToken()).toBe(first);
      expect(tokens.exchanges).toBe(1);
      now += 2_000;
      const second = await tokens.accessToken();
      expect(second).not.toBe(first);
      expect(tokens.exchanges).toBe(2);
      expect(local.tokensIssued).toBe(2);
    } finally {
      await local.close();
    }
  });

  it('quotes IAM\'s message and request id for a wrong API key, without the key', async () => {
    const wrongKey = 'wrong-key-4711-should-not-leak';
    const tokens = new IamTokenSource({ apiKey: wrongKey, iamEndpoint: fake.endpoints.iam });
    const error = await expectIbmError(tokens.accessToken(), /IAM token exchange failed: HTTP 400 BXNIM0415E: Provided API key could not be found\./);
    expect(error.message).not.toContain(wrongKey);
    expect(error.requestId).toMatch(/^iam-/);
  });
});

describe('IKS cluster lifecycle', () => {
  it('creates, polls deploying → pending → normal, and returns the kubeconfig', async () => {
    const { id, outs } = await iksClusterProvider.create!(clusterArgs());
    expect(outs.state).toBe('normal');
    expect(outs.kubeconfig).toContain(`server: "https://${id}.example:30000"`);
    expect(outs.ingressHostname).toBe('expense.us-south.containers.appdomain.cloud');
    const created = fake.requests.find((r) => r.path === '/global/v2/vpc/createCluster');
    expect(JSON.parse(created!.body)).toEqual({
      name: 'expense',
      provider: 'vpc-gen2',
      workerPool: { name: 'default', flavor: 'bx2.4x16', vpcID: 'r006-1111', workerCount: 2, zones: [{ id: 'us-south-1', subnetID: '0717-aaaa' }] },
    });
    const polls = fake.requests.filter((r) => r.path.startsWith('/global/v2/vpc/getCluster'));
    expect(polls.length).toBe(4); // deploying, deploying, pending, normal
    expect(output.join('\n')).toMatch(/expense: deploying[\s\S]*expense: pending[\s\S]*expense: normal/);

    const read = await iksClusterProvider.read!(id, outs);
    expect(read.id).toBe(id);
    expect(read.props?.state).toBe('normal');
  });

  it('times out with the last state when the cluster never becomes normal', async () => {
    let now = 0;
    const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) };
    const slow = await startFakeIbmCloud({ apiKey: API_KEY, statesBeforeNormal: Array(50).fill('deploying') });
    try {
      await expect(
        createCluster(clusterArgs({ endpoints: slow.endpoints, readyTimeoutSeconds: 120, pollIntervalSeconds: 30 }), () => {}, clock),
      ).rejects.toThrow(/did not reach state "normal" within 120 s \(last state "deploying"\)/);
      expect(now).toBeLessThanOrEqual(120_000);
    } finally {
      await slow.close();
    }
  });

  it('fails fast when the cluster turns critical', async () => {
    const bad = await startFakeIbmCloud({ apiKey: API_KEY, statesBeforeNormal: ['deploying', 'critical'] });
    try {
      await expect(createCluster(clusterArgs({ endpoints: bad.endpoints }))).rejects.toThrow(/reached state "critical" instead of "normal"/);
    } finally {
      await bad.close();
    }
  });

  it('quotes IKS 4xx messages with the incident id', async () => {
    await iksClusterProvider.create!(clusterArgs());
    await expectIbmError(iksClusterProvider.create!(clusterArgs()), /IKS createCluster "expense" failed: HTTP 409 E0007: A cluster with the same name already exists/);
  });

  it('quotes IKS 5xx messages with the incident id', async () => {
    fake.failNext('getCluster', 503);
    await expectIbmError(iksClusterProvider.create!(clusterArgs()), /IKS getCluster ".*" failed: HTTP 503 E0001: Injected failure 503/);
  });

  it('deletes a cluster, and deleting a missing cluster succeeds', async () => {
    const { id, outs } = await iksClusterProvider.create!(clusterArgs());
    await iksClusterProvider.delete!(id, outs);
    expect(fake.clusters.has(id)).toBe(false);
    await expect(iksClusterProvider.delete!(id, outs)).resolves.toBeUndefined();
    await expect(deleteCluster(clusterArgs(), 'c-never-existed')).resolves.toBeUndefined();
    const read = await iksClusterProvider.read!(id, outs);
    expect(read.id).toBe('');
  });

  it('adopts an existing cluster by name and never deletes it', async () => {
    const { id } = await iksClusterProvider.create!(clusterArgs());
    const adopted = await iksClusterProvider.create!({ name: 'expense', existing: true, apiKey: API_KEY, endpoints: fake.endpoints, pollIntervalSeconds: 0 });
    expect(adopted.id).toBe(id);
    const creates = fake.requests.filter((r) => r.path === '/global/v2/vpc/createCluster').length;
    await iksClusterProvider.delete!(adopted.id, adopted.outs);
    expect(fake.clusters.has(id)).toBe(true);
    expect(fake.requests.filter((r) => r.path === '/global/v2/vpc/createCluster').length).toBe(creates);
  });

  it('check() names the invalid field; diff() replaces on structural changes only', async () => {
    const checked = await iksClusterProvider.check!({}, clusterArgs({ flavor: '' }));
    expect(checked.failures).toEqual([{ property: 'flavor', reason: expect.stringContaining('required') }]);
    const diff = await iksClusterProvider.diff!('id', clusterArgs() as never, clusterArgs({ workerCount: 3, pollIntervalSeconds: 5 }));
    expect(diff).toMatchObject({ changes: true, replaces: ['workerCount'], deleteBeforeReplace: true });
    const none = await iksClusterProvider.diff!('id', clusterArgs() as never, clusterArgs());
    expect(none).toMatchObject({ changes: false, replaces: [] });
  });
});

describe('ICR namespace', () => {
  const nsArgs = () => ({ name: 'expense-tracker', accountId: 'acc-123', apiKey: API_KEY, endpoints: fake.endpoints });

  it('creates (with the Account header), reads and deletes idempotently', async () => {
    const { id, outs } = await icrNamespaceProvider.create!(nsArgs());
    expect(id).toMatch(/\/expense-tracker$/);
    expect(fake.namespaces.has('expense-tracker')).toBe(true);
    expect(fake.requests.find((r) => r.method === 'PUT')?.headers.account).toBe('acc-123');
    expect((await icrNamespaceProvider.read!(id, outs)).id).toBe(id);
    await icrNamespaceProvider.delete!(id, outs);
    await expect(icrNamespaceProvider.delete!(id, outs)).resolves.toBeUndefined();
    expect((await icrNamespaceProvider.read!(id, outs)).id).toBe('');
  });

  it('validates before any request and quotes ICR errors', async () => {
    const checked = await icrNamespaceProvider.check!({}, { ...nsArgs(), accountId: '' });
    expect(checked.failures).toEqual([{ property: 'accountId', reason: expect.stringContaining('required') }]);
    fake.failNext('/api/v1/namespaces', 500);
    await expectIbmError(icrNamespaceProvider.create!(nsArgs()), /ICR create namespace "expense-tracker" failed: HTTP 500 E0001: Injected failure 500/);
  });
});
