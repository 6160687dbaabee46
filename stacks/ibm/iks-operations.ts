/**
 * Create / read / diff / delete of an IBM Cloud Kubernetes Service (IKS) VPC cluster and an
 * IBM Container Registry (ICR) namespace over IBM's REST APIs. Used by the Pulumi dynamic
 * providers in `providers.ts`; kept free of Pulumi imports so contract tests can drive it
 * directly against a fake IBM server.
 *
 * API calls (IBM Cloud API docs, "containers-v2" and "container-registry"):
 * - `POST {containers}/v2/vpc/createCluster` → `{ clusterID }`
 * - `GET  {containers}/v2/vpc/getCluster?cluster=<id|name>` → `{ id, name, state, masterURL, ingress: { hostname } }`
 *   (`state`: `deploying` → `deployed`/`pending` → `normal`; `warning`, `critical`, `deleting`, `deleted`)
 * - `GET  {containers}/v2/applyRBACAndGetKubeconfig?cluster=<id>&format=yaml&admin=true` → kubeconfig YAML
 * - `DELETE {containers}/v1/clusters/<id>?deleteResources=true` (404 = already gone)
 * - `PUT / DELETE {registry}/api/v1/namespaces/<name>`, `GET {registry}/api/v1/namespaces` (header `Account`)
 */
import { IamTokenSource, IbmApiError, IbmClient, IBM_DEFAULT_ENDPOINTS, type IbmEndpoints } from './ibm-api.js';

/** One zone of the default worker pool: IBM zone id (`us-south-1`) and VPC subnet id. */
export interface IksZone {
  id: string;
  subnetId: string;
}

/** Inputs of an IKS VPC cluster (all strings are IBM ids/names as the console shows them). */
export interface IksClusterArgs {
  /** Cluster name (unique in the account/region). */
  name: string;
  /**
   * `true` = bring your own cluster: look it up by `name`, wait until `normal`, fetch its
   * kubeconfig; never create or delete it.
   */
  existing?: boolean;
  /** VPC id (required unless `existing`). */
  vpcId?: string;
  /** Worker flavor, e.g. `bx2.4x16` (required unless `existing`). */
  flavor?: string;
  /** Workers per zone. @default 1 */
  workerCount?: number;
  /** Zones of the default worker pool (required unless `existing`). */
  zones?: IksZone[];
  /** Kubernetes version, e.g. `1.33`; empty = IKS default. */
  kubeVersion?: string;
  /** Resource group id (`X-Auth-Resource-Group`); empty = account default. */
  resourceGroupId?: string;
  /** IBM Cloud API key (a Pulumi secret). */
  apiKey: string;
  /** Base URLs. @default IBM_DEFAULT_ENDPOINTS */
  endpoints?: Partial<IbmEndpoints>;
  /** Seconds to wait for state `normal`. @default 5400 (IKS VPC clusters take 20-60 min) */
  readyTimeoutSeconds?: number;
  /** Seconds between `getCluster` polls. @default 30 */
  pollIntervalSeconds?: number;
}

/** Outputs of an IKS cluster. */
export interface IksClusterState {
  clusterId: string;
  name: string;
  state: string;
  masterUrl: string;
  ingressHostname: string;
  /** Admin kubeconfig YAML (stored as a Pulumi secret by the provider). */
  kubeconfig: string;
  existing: boolean;
}

/** Progress callback (state transitions while polling). */
export type ProgressLog = (message: string) => void;

/** Injectable clock for tests: `sleep(ms)` and `now()` in milliseconds. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** IKS states after which waiting is pointless. */
const FAILED_STATES = new Set(['critical', 'deleting', 'deleted', 'delete_failed', 'failed']);

/** Fields whose change replaces the cluster (IKS cannot rename or move a cluster). */
export const IKS_REPLACE_FIELDS = ['name', 'existing', 'vpcId', 'flavor', 'workerCount', 'zones', 'kubeVersion', 'resourceGroupId'] as const;

function endpoints(args: { endpoints?: Partial<IbmEndpoints> }): IbmEndpoints {
  const e = { ...IBM_DEFAULT_ENDPOINTS, ...args.endpoints };
  return { iam: e.iam.replace(/\/+$/, ''), containers: e.containers.replace(/\/+$/, ''), registry: e.registry.replace(/\/+$/, '') };
}

/** Builds a client for one set of args (one IAM token cache per provider call). */
export function clientFor(args: { apiKey: string; endpoints?: Partial<IbmEndpoints> }): IbmClient {
  return new IbmClient(new IamTokenSource({ apiKey: args.apiKey, iamEndpoint: endpoints(args).iam }), args.apiKey);
}

/**
 * Validates cluster inputs. @throws Error naming the first missing/invalid field.
 */
export function validateClusterArgs(args: IksClusterArgs): void {
  if (!args.name || !/^[a-z][-a-z0-9]{0,31}$/.test(args.name)) {
    throw new Error(`IksCluster.name: "${args.name ?? ''}" must start with a letter and hold at most 32 lower-case letters, digits or "-"`);
  }
  if (!args.apiKey) throw new Error('IksCluster.apiKey: empty (set `pulumi config set --secret expense-tracker:ibmApiKey …`)');
  if (args.existing) return;
  if (!args.vpcId) throw new Error('IksCluster.vpcId: required to create a cluster (or set existing: true)');
  if (!args.flavor) throw new Error('IksCluster.flavor: required to create a cluster, e.g. "bx2.4x16"');
  if (!args.zones || args.zones.length === 0) throw new Error('IksCluster.zones: at least one { id, subnetId } is required');
  args.zones.forEach((z, i) => {
    if (!z.id || !z.subnetId) throw new Error(`IksCluster.zones[${i}]: id and subnetId are required`);
  });
  if (args.workerCount !== undefined && (!Number.isInteger(args.workerCount) || args.workerCount < 1)) {
    throw new Error(`IksCluster.workerCount: ${args.workerCount} must be a positive integer`);
  }
}

interface IksGetClusterBody {
  id?: string;
  name?: string;
  state?: string;
  masterURL?: string;
  ingress?: { hostname?: string };
}

/** `getCluster`; undefined when IKS answers 404. */
export async function getCluster(client: IbmClient, args: Pick<IksClusterArgs, 'endpoints' | 'resourceGroupId'>, cluster: string): Promise<IksGetClusterBody | undefined> {
  const base = endpoints(args).containers;
  const { status, body } = await client.request<IksGetClusterBody>(
    `IKS getCluster "${cluster}"`,
    `${base}/v2/vpc/getCluster?cluster=${encodeURIComponent(cluster)}`,
    { accept: [404], headers: groupHeader(args) },
  );
  return status === 404 ? undefined : body;
}

function groupHeader(args: Pick<IksClusterArgs, 'resourceGroupId'>): Record<string, string> {
  return args.resourceGroupId ? { 'X-Auth-Resource-Group': args.resourceGroupId } : {};
}

/**
 * Polls `getCluster` until `state` is `normal`.
 * @throws Error when the state becomes a failed state or `readyTimeoutSeconds` pass
 *   (message names the cluster, the last state and the timeout).
 */
export async function waitForNormal(
  client: IbmClient,
  args: IksClusterArgs,
  clusterId: string,
  log: ProgressLog = () => {},
  clock: Clock = realClock,
): Promise<IksGetClusterBody> {
  const timeoutMs = (args.readyTimeoutSeconds ?? 5400) * 1000;
  const intervalMs = (args.pollIntervalSeconds ?? 30) * 1000;
  const deadline = clock.now() + timeoutMs;
  let last = '';
  for (;;) {
    const cluster = await getCluster(client, args, clusterId);
    const state = cluster?.state ?? 'not found';
    if (state !== last) log(`IKS cluster ${args.name}: ${state}`);
    last = state;
    if (cluster && state === 'normal') return cluster;
    if (!cluster || FAILED_STATES.has(state)) {
      throw new Error(`IKS cluster "${args.name}" (${clusterId}) reached state "${state}" instead of "normal"`);
    }
    if (clock.now() + intervalMs > deadline) {
      throw new Error(
        `IKS cluster "${args.name}" (${clusterId}) did not reach state "normal" within ${args.readyTimeoutSeconds ?? 5400} s (last state "${state}")`,
      );
    }
    await clock.sleep(intervalMs);
  }
}

/** Fetches the admin kubeconfig (YAML). */
export async function fetchKubeconfig(client: IbmClient, args: IksClusterArgs, clusterId: string): Promise<string> {
  const base = endpoints(args).containers;
  return client.requestText(
    `IKS applyRBACAndGetKubeconfig "${args.name}"`,
    `${base}/v2/applyRBACAndGetKubeconfig?cluster=${encodeURIComponent(clusterId)}&format=yaml&admin=true`,
  );
}

/**
 * Creates the cluster (or adopts an existing one), waits for `normal` and fetches its kubeconfig.
 * @throws Error for invalid args; IbmApiError for IBM API failures; Error on timeout/failed state.
 */
export async function createCluster(args: IksClusterArgs, log: ProgressLog = () => {}, clock: Clock = realClock): Promise<IksClusterState> {
  validateClusterArgs(args);
  const client = clientFor(args);
  let clusterId: string;
  if (args.existing) {
    const found = await getCluster(client, args, args.name);
    if (!found?.id) throw new Error(`IKS cluster "${args.name}" not found (existing: true expects it to exist)`);
    clusterId = found.id;
  } else {
    const { body } = await client.request<{ clusterID?: string }>(`IKS createCluster "${args.name}"`, `${endpoints(args).containers}/v2/vpc/createCluster`, {
      method: 'POST',
      headers: groupHeader(args),
      body: {
        name: args.name,
        provider: 'vpc-gen2',
        ...(args.kubeVersion ? { kubeVersion: args.kubeVersion } : {}),
        workerPool: {
          name: 'default',
          flavor: args.flavor,
          vpcID: args.vpcId,
          workerCount: args.workerCount ?? 1,
          zones: (args.zones ?? []).map((z) => ({ id: z.id, subnetID: z.subnetId })),
        },
      },
    });
    if (!body?.clusterID) throw new IbmApiError(`IKS createCluster "${args.name}"`, 200, undefined, 'answer lacks clusterID', undefined);
    clusterId = body.clusterID;
    log(`IKS cluster ${args.name}: created ${clusterId}`);
  }
  const ready = await waitForNormal(client, args, clusterId, log, clock);
  const kubeconfig = await fetchKubeconfig(client, args, clusterId);
  return toState(args, clusterId, ready, kubeconfig);
}

function toState(args: IksClusterArgs, clusterId: string, c: IksGetClusterBody, kubeconfig: string): IksClusterState {
  return {
    clusterId,
    name: c.name ?? args.name,
    state: c.state ?? 'unknown',
    masterUrl: c.masterURL ?? '',
    ingressHostname: c.ingress?.hostname ?? '',
    kubeconfig,
    existing: Boolean(args.existing),
  };
}

/** Reads the current cluster; undefined when it no longer exists. */
export async function readCluster(args: IksClusterArgs, clusterId: string): Promise<IksClusterState | undefined> {
  const client = clientFor(args);
  const cluster = await getCluster(client, args, clusterId);
  if (!cluster) return undefined;
  const kubeconfig = cluster.state === 'normal' ? await fetchKubeconfig(client, args, clusterId) : '';
  return toState(args, clusterId, cluster, kubeconfig);
}

/**
 * Deletes the cluster and its VPC storage (`deleteResources=true`). A missing cluster
 * counts as deleted; clusters adopted with `existing: true` are left alone.
 */
export async function deleteCluster(args: IksClusterArgs, clusterId: string): Promise<void> {
  if (args.existing) return;
  const client = clientFor(args);
  await client.request(`IKS deleteCluster "${args.name}"`, `${endpoints(args).containers}/v1/clusters/${encodeURIComponent(clusterId)}?deleteResources=true`, {
    method: 'DELETE',
    headers: groupHeader(args),
    accept: [404],
  });
}

/** Names of the fields that differ between two input sets (deep JSON comparison). */
export function changedFields<T extends object>(olds: T, news: T, fields: readonly (keyof T)[]): string[] {
  return fields.filter((f) => JSON.stringify(olds[f] ?? null) !== JSON.stringify(news[f] ?? null)).map(String);
}

/** Inputs of an ICR namespace. */
export interface IcrNamespaceArgs {
  /** Namespace name: 4-30 lower-case letters, digits, `-` or `_`, starting with a letter. */
  name: string;
  /** IBM Cloud account id (ICR's `Account` header). */
  accountId: string;
  /** Resource group id the namespace is assigned to; empty = default. */
  resourceGroupId?: string;
  apiKey: string;
  endpoints?: Partial<IbmEndpoints>;
}

/** @throws Error naming the invalid field. */
export function validateNamespaceArgs(args: IcrNamespaceArgs): void {
  if (!/^[a-z][a-z0-9_-]{3,29}$/.test(args.name ?? '')) {
    throw new Error(`IcrNamespace.name: "${args.name ?? ''}" must be 4-30 lower-case letters, digits, "-" or "_", starting with a letter`);
  }
  if (!args.accountId) throw new Error('IcrNamespace.accountId: required (config key "expense-tracker:ibmAccountId")');
  if (!args.apiKey) throw new Error('IcrNamespace.apiKey: empty (set `pulumi config set --secret expense-tracker:ibmApiKey …`)');
}

function icrHeaders(args: IcrNamespaceArgs): Record<string, string> {
  return { Account: args.accountId, ...(args.resourceGroupId ? { 'X-Auth-Resource-Group': args.resourceGroupId } : {}) };
}

/** Creates the namespace; an existing namespace of the same account is adopted (ICR answers 200). */
export async function createNamespace(args: IcrNamespaceArgs): Promise<{ name: string; registry: string }> {
  validateNamespaceArgs(args);
  const base = endpoints(args).registry;
  await clientFor(args).request(`ICR create namespace "${args.name}"`, `${base}/api/v1/namespaces/${encodeURIComponent(args.name)}`, {
    method: 'PUT',
    headers: icrHeaders(args),
  });
  return { name: args.name, registry: new URL(base).host };
}

/** Whether the namespace exists in the account. */
export async function namespaceExists(args: IcrNamespaceArgs): Promise<boolean> {
  const base = endpoints(args).registry;
  const { body } = await clientFor(args).request<unknown[]>(`ICR list namespaces`, `${base}/api/v1/namespaces`, { headers: icrHeaders(args) });
  return (body ?? []).some((n) => n === args.name || (typeof n === 'object' && n !== null && (n as { name?: unknown }).name === args.name));
}

/** Deletes the namespace and its images; a missing namespace counts as deleted. */
export async function deleteNamespace(args: IcrNamespaceArgs): Promise<void> {
  const base = endpoints(args).registry;
  await clientFor(args).request(`ICR delete namespace "${args.name}"`, `${base}/api/v1/namespaces/${encodeURIComponent(args.name)}`, {
    method: 'DELETE',
    headers: icrHeaders(args),
    accept: [404],
  });
}
