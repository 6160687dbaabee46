/**
 * Launcher for a loopback Kubernetes control plane whose only fake part is the kubelet:
 * etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real binaries (see
 * versions.ts), and kwok plays the kubelet of a few fake nodes, moving scheduled pods to
 * Running/Ready (with a short random readiness delay, so rollouts take observable time).
 *
 * Everything lives in one directory (default: a fresh `mkdtemp` under the OS temp dir):
 * `pki/`, `etcd-data/`, `kubeconfig` (admin, cluster-admin via `system:masters`), per-component
 * kubeconfigs, `<component>.log`, and `state.json` (ports, PIDs) which `stopCluster` reads.
 * Every process is started as its own process group leader on 127.0.0.1 with free ports;
 * `stopCluster` signals each group (SIGTERM, then SIGKILL after 10 s) and verifies it is gone.
 *
 * The cluster is bootstrapped with: fake nodes (annotation `kwok.x-k8s.io/node=fake`, one zone
 * each), one StorageClass per environment storage class with pre-created PersistentVolumes
 * (static provisioning, `kubernetes.io/no-provisioner`), and IngressClasses for the ingress
 * classes the environments use.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { execa } from 'execa';
import { assertRunning, freePort, isRunning, launchDetached, relaunch, stopProcesses, waitForPort, type ProcessRecord } from '@expense-tracker/tools/process/index';
import { ensureBinaries, kwokStagesPath, stderrProgress, type BinaryPaths, type Progress } from './build.js';
import { kubectlFor, waitFor, type Kubectl } from './kubectl.js';
import { addonObjects, addonWorkloads, INGRESS_CLASSES, INGRESS_NODE_PORT } from './node/addons.js';
import { FAKE_NODE_TAINT, KUBERNETES_SERVICE_IP, nodePaths, REAL_NODE_NAME, REGISTRY_PORT, SERVICE_CIDR } from './node/config.js';
import { acquireSlot, createNetwork } from './node/host.js';
import { requiredNodeImages, ensureClusterImages } from './node/images.js';
import { startNodeProcesses, stopNode, writeNodeFiles, type NodeState } from './node/node.js';
import { hasImage, mirrorRepository, startRegistry } from './node/registry.js';
import { createPki, writeKubeconfig, type ClusterPki, type KeyPairFiles } from './pki.js';

/** A StorageClass the cluster offers, with statically provisioned PersistentVolumes. */
export interface StorageClassSpec {
  name: string;
  /** `Immediate` (minikube's `standard`) or `WaitForFirstConsumer` (IBM VPC block classes). */
  volumeBindingMode: 'Immediate' | 'WaitForFirstConsumer';
  /** Marks it as the default StorageClass. */
  isDefault?: boolean;
  /** Access modes of its PersistentVolumes (default `['ReadWriteOnce']`). */
  accessModes?: ('ReadWriteOnce' | 'ReadWriteMany')[];
}

/** Storage classes of the environments in model/environments/ (local = minikube, ibm = IKS VPC block, and VPC file for shared volumes). */
export const DEFAULT_STORAGE_CLASSES: StorageClassSpec[] = [
  { name: 'standard', volumeBindingMode: 'Immediate', isDefault: true },
  { name: 'ibmc-vpc-block-10iops-tier', volumeBindingMode: 'WaitForFirstConsumer' },
  { name: 'ibmc-vpc-file-dp2', volumeBindingMode: 'Immediate', accessModes: ['ReadWriteOnce', 'ReadWriteMany'] },
];

/** Ingress classes the environments use: minikube's ingress addon and IKS's ALBs (see node/addons.ts). */
export const DEFAULT_INGRESS_CLASSES = INGRESS_CLASSES;

export interface StartOptions {
  /** Directory for all state; created if missing. Default: fresh mkdtemp under the OS temp dir. */
  dir?: string;
  /**
   * Start one real node (containerd, kubelet, kube-proxy in the cluster's own network namespace,
   * and kube-router's policy controller, with CoreDNS, local-path-provisioner and Traefik as pods).
   * @default true
   */
  realNode?: boolean;
  /**
   * Number of kwok fake nodes (zones zone-a, zone-b, ...). With a real node they are tainted
   * `kwok.x-k8s.io/node=fake:NoSchedule` so only pods that tolerate it land there.
   * @default 0 with a real node, 3 without
   */
  nodes?: number;
  /**
   * Namespace of the Ingress controller: an environment's `ingressControllerNamespace`, whose
   * NetworkPolicies admit ingress traffic from there only (local `ingress-nginx`, ibm `kube-system`).
   * @default 'ingress-nginx'
   */
  ingressNamespace?: string;
  storageClasses?: StorageClassSpec[];
  /** PersistentVolumes pre-created per StorageClass (default 6). */
  persistentVolumesPerClass?: number;
  /** Capacity of each PersistentVolume (default `100Gi`; claims bind to any PV at least as large). */
  persistentVolumeCapacity?: string;
  /** kwok delays pod readiness by a uniform random time in [min, max] milliseconds (default 300..1500; max 0 = none). */
  podReadyDelayMs?: { min: number; max: number };
  progress?: Progress;
}

export type { ProcessRecord } from '@expense-tracker/tools/process/index';

export interface ClusterState {
  dir: string;
  /** Admin kubeconfig (cluster-admin). */
  kubeconfig: string;
  /** API server URL: `https://<host veth address>:<port>` with a real node, else `https://127.0.0.1:<port>`. */
  server: string;
  ports: { etcdClient: number; etcdPeer: number; apiserver: number; ingress?: number };
  processes: ProcessRecord[];
  binaries: BinaryPaths;
  /** The real node, when there is one. */
  node?: NodeState & { ingressNamespace: string };
  /** `http://127.0.0.1:<port>`: the Ingress controller, reachable from the host (real node only). */
  ingressUrl?: string;
  /** `http://<host veth address>:5000`: the registry the node pulls every image from (real node only). */
  registryUrl?: string;
}

export interface TestCluster extends ClusterState {
  kubectl: Kubectl;
  /** Seconds from process start to a ready, bootstrapped cluster (binaries already built). */
  startSeconds: number;
  /** Stops every process (see stopCluster); also removes the directory if startCluster created it (no `dir` option). */
  stop(): Promise<void>;
  /**
   * Restarts containerd and the kubelet of the real node (SIGTERM, then the same command lines;
   * running containers keep running, as on a node whose runtime is upgraded), and waits until the
   * node is Ready again.
   * @throws Error without a real node, or when the node does not become Ready in 120 s.
   */
  restartNode(): Promise<void>;
}

/** Pod CIDR kwok hands out to fake nodes (never routed anywhere). */
const POD_CIDR = '10.244.0.0/16';
const FAKE_NODE_ANNOTATION = 'kwok.x-k8s.io/node';


const statePath = (dir: string) => join(dir, 'state.json');
/** Writes `<state.dir>/state.json` (read back by `readState`). */
export const saveState = (state: ClusterState): void => writeFileSync(statePath(state.dir), JSON.stringify(state, null, 2) + '\n');

/** Reads `<dir>/state.json` written by `startCluster`. @throws Error when absent or unreadable. */
export function readState(dir: string): ClusterState {
  if (!existsSync(statePath(dir))) throw new Error(`no test cluster state in ${dir} (state.json missing)`);
  return JSON.parse(readFileSync(statePath(dir), 'utf8')) as ClusterState;
}

/** Starts `binary` detached in its own process group, output appended to `<dir>/<name>.log`, and records it in state.json. */
function launch(state: ClusterState, name: string, binary: string, args: string[], prefix?: string[]): ProcessRecord {
  const record = launchDetached({ name, binary, args, log: join(state.dir, `${name}.log`), cwd: state.dir, prefix });
  state.processes.push(record);
  saveState(state);
  return record;
}

/** HTTPS GET against the API server with the admin client certificate; resolves status and body. */
function apiGet(server: string, pki: ClusterPki, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server}${path}`,
      { ca: readFileSync(pki.caCert), cert: readFileSync(pki.clients.admin.cert), key: readFileSync(pki.clients.admin.key), timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * kwok configuration: upstream's pod "fast" stages (`stagesYaml`, as exported by the build), with
 * a random delay added to pod-ready.
 * @throws Error when the stages contain no `pod-ready` Stage.
 */
export function kwokConfig(stagesYaml: string, delay: { min: number; max: number }): string {
  const stages = parseAllDocuments(stagesYaml).map((doc) => doc.toJS());
  for (const stage of stages) {
    if (stage?.metadata?.name === 'pod-ready' && delay.max > 0) {
      // kwok: the delay is durationMilliseconds, extended at random up to jitterDurationMilliseconds.
      stage.spec.delay = { durationMilliseconds: delay.min, jitterDurationMilliseconds: delay.max };
    }
  }
  if (!stages.some((s) => s?.metadata?.name === 'pod-ready')) throw new Error('kwok stages: no pod-ready Stage');
  return stages.map((s) => stringify(s)).join('---\n');
}

/** Objects created right after the API server is ready: fake nodes, StorageClasses with static PVs, IngressClasses. */
export function bootstrapObjects(options: Required<Pick<StartOptions, 'nodes' | 'storageClasses' | 'persistentVolumesPerClass' | 'persistentVolumeCapacity'>>): object[] {
  return [...fakeNodes(options.nodes, false), ...staticStorage(options), ...INGRESS_CLASSES.map((ic) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: ic.name }, spec: { controller: ic.controller } }))];
}

/** kwok's fake nodes, one zone each; `tainted` keeps pods without a toleration off them. */
export function fakeNodes(count: number, tainted: boolean): object[] {
  const objects: object[] = [];
  for (let i = 0; i < count; i += 1) {
    const name = `kwok-node-${i}`;
    objects.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        annotations: { [FAKE_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: {
          'kubernetes.io/hostname': name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'topology.kubernetes.io/zone': `zone-${String.fromCharCode(97 + (i % 26))}`,
          type: 'kwok',
        },
      },
      spec: tainted ? { taints: [FAKE_NODE_TAINT] } : {},
      status: {
        allocatable: { cpu: '8', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' },
        capacity: { cpu: '8', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' },
      },
    });
  }
  return objects;
}

/** StorageClasses without a provisioner and pre-created PersistentVolumes (control plane only: nothing mounts them). */
function staticStorage(options: Required<Pick<StartOptions, 'storageClasses' | 'persistentVolumesPerClass' | 'persistentVolumeCapacity'>>): object[] {
  const objects: object[] = [];
  for (const sc of options.storageClasses) {
    objects.push({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: sc.name, annotations: sc.isDefault ? { 'storageclass.kubernetes.io/is-default-class': 'true' } : {} },
      provisioner: 'kubernetes.io/no-provisioner',
      reclaimPolicy: 'Retain',
      volumeBindingMode: sc.volumeBindingMode,
    });
    for (let i = 0; i < options.persistentVolumesPerClass; i += 1) {
      const name = `${sc.name}-pv-${i}`;
      objects.push({
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name, labels: { 'expense-tracker.dev/test-cluster': 'static' } },
        spec: {
          storageClassName: sc.name,
          capacity: { storage: options.persistentVolumeCapacity },
          accessModes: sc.accessModes ?? ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Retain',
          volumeMode: 'Filesystem',
          // Never mounted: kwok runs no containers. hostPath keeps the PV node-independent.
          hostPath: { path: `/var/lib/expense-tracker-test-cluster/${name}`, type: 'DirectoryOrCreate' },
        },
      });
    }
  }
  return objects;
}

/**
 * Builds the binaries if missing, then starts and bootstraps a cluster (see module docs): the
 * control plane, and by default one real node with its add-ons, the image registry and the
 * host-side Ingress forward. Real-node images must be in the registry storage: missing ones are
 * built and pushed first (`ensureClusterImages`, progress on stderr).
 * On any failure everything already started is stopped (and the node torn down) before the error propagates.
 * @throws Error naming the component and its log tail when a process exits or a readiness wait times out.
 */
export async function startCluster(options: StartOptions = {}): Promise<TestCluster> {
  const progress = options.progress ?? stderrProgress;
  const realNode = options.realNode ?? true;
  // The monitoring stack's binaries are not needed to start a node: the suites that deploy it
  // (ensureClusterImages with `monitoring`) build or wait for them.
  const { paths: binaries } = await ensureBinaries({ progress, roles: realNode ? 'node' : 'control-plane' });
  if (realNode) await ensureNodeImages(progress);
  const started = Date.now();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'expense-tracker-cluster-'));
  mkdirSync(dir, { recursive: true });
  if (existsSync(statePath(dir))) {
    const previous = readState(dir);
    if (previous.processes.some(isRunning)) {
      throw new Error(`a test cluster is already running from ${dir}; stop it first (test-cluster down --dir ${dir})`);
    }
    // Leftovers of a stopped or crashed cluster (old etcd data, PKI, a node never torn down): start from scratch.
    await stopCluster(dir);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  const ports = { etcdClient: await freePort(), etcdPeer: await freePort(), apiserver: await freePort(), ...(realNode ? { ingress: await freePort() } : {}) };
  const state: ClusterState = { dir, kubeconfig: join(dir, 'kubeconfig'), server: `https://127.0.0.1:${ports.apiserver}`, ports, processes: [], binaries };
  saveState(state);
  try {
    const network = realNode ? await acquireSlot(dir) : undefined;
    if (network) {
      const ingressNamespace = options.ingressNamespace ?? 'ingress-nginx';
      state.node = { network, cgroupRoot: `/${network.netns}`, crictl: binaries.crictl, ingressNamespace };
      state.server = `https://${network.hostIP}:${ports.apiserver}`;
      saveState(state);
      progress(`node network ${network.netns}: host ${network.hostIP}, node ${network.nodeIP}, pods ${network.podCIDR}`);
      await createNetwork(network);
    }
    const server = state.server;
    const apiserverHost = network?.hostIP ?? '127.0.0.1';
    progress(`starting control plane in ${dir}`);
    const pki = await createPki(dir, KUBERNETES_SERVICE_IP, network ? [network.hostIP] : [], network ? { name: REAL_NODE_NAME, ip: network.nodeIP } : undefined);
    writeKubeconfig(state.kubeconfig, server, pki.caCert, 'admin', pki.clients.admin);
    const componentKubeconfig = (name: string, user: string, client: KeyPairFiles) => {
      const path = join(dir, `${name}.kubeconfig`);
      writeKubeconfig(path, server, pki.caCert, user, client);
      return path;
    };

    const etcdClientUrl = `http://127.0.0.1:${ports.etcdClient}`;
    const etcdPeerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
    const etcd = launch(state, 'etcd', binaries.etcd, [
      '--name=test', `--data-dir=${join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdClientUrl}`, `--advertise-client-urls=${etcdClientUrl}`,
      `--listen-peer-urls=${etcdPeerUrl}`, `--initial-advertise-peer-urls=${etcdPeerUrl}`,
      `--initial-cluster=test=${etcdPeerUrl}`, '--initial-cluster-state=new',
      // Throwaway data: skip fsync so a loaded 2-core machine is not disk bound.
      '--unsafe-no-fsync', '--log-level=warn',
    ]);
    await waitFor('etcd /health', async () => {
      assertRunning(etcd);
      const res = await fetch(`${etcdClientUrl}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    }, 60_000);
    progress(`etcd ready on ${etcdClientUrl}`);

    const apiserver = launch(state, 'kube-apiserver', binaries['kube-apiserver'], [
      `--etcd-servers=${etcdClientUrl}`,
      // With a real node the API server serves on the host end of its veth pair, where pods reach
      // it through the `kubernetes` Service; the host reaches that address too.
      `--bind-address=${apiserverHost}`, `--secure-port=${ports.apiserver}`, `--advertise-address=${apiserverHost}`,
      `--tls-cert-file=${pki.apiserver.cert}`, `--tls-private-key-file=${pki.apiserver.key}`,
      `--client-ca-file=${pki.caCert}`,
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${pki.serviceAccountPub}`, `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--authorization-mode=Node,RBAC',
      // PodSecurity is on by default since 1.25; listed so the intent is explicit.
      '--enable-admission-plugins=NodeRestriction,PodSecurity',
      ...(pki.node
        ? ['--allow-privileged=true', `--kubelet-client-certificate=${pki.node.apiserverKubeletClient.cert}`, `--kubelet-client-key=${pki.node.apiserverKubeletClient.key}`,
          `--kubelet-certificate-authority=${pki.caCert}`, '--kubelet-preferred-address-types=InternalIP']
        // No kubelets, no kube-proxy: nothing consumes the `kubernetes` Service endpoints (127.0.0.1 is not a valid endpoint).
        : ['--endpoint-reconciler-type=none']),
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      '--profiling=false',
    ]);
    await waitFor('kube-apiserver /readyz', async () => {
      assertRunning(apiserver);
      const res = await apiGet(server, pki, '/readyz');
      return res.status === 200;
    }, 180_000, 500);
    progress(`kube-apiserver ready on ${server}`);

    const kcm = launch(state, 'kube-controller-manager', binaries['kube-controller-manager'], [
      `--kubeconfig=${componentKubeconfig('kube-controller-manager', 'system:kube-controller-manager', pki.clients.controllerManager)}`,
      '--secure-port=0',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-signing-cert-file=${pki.caCert}`, `--cluster-signing-key-file=${pki.caKey}`,
      '--leader-elect=true',
      '--profiling=false',
    ]);
    const scheduler = launch(state, 'kube-scheduler', binaries['kube-scheduler'], [
      `--kubeconfig=${componentKubeconfig('kube-scheduler', 'system:kube-scheduler', pki.clients.scheduler)}`,
      '--secure-port=0',
      '--leader-elect=true',
      '--profiling=false',
    ]);
    const all = [kcm, scheduler];
    const nodes = options.nodes ?? (realNode ? 0 : 3);
    if (nodes > 0) {
      const kwokConfigPath = join(dir, 'kwok.yaml');
      writeFileSync(kwokConfigPath, kwokConfig(readFileSync(kwokStagesPath(), 'utf8'), options.podReadyDelayMs ?? { min: 300, max: 1500 }));
      all.push(launch(state, 'kwok', binaries.kwok, [
        `--kubeconfig=${componentKubeconfig('kwok', 'kwok-controller', pki.clients.kwok)}`,
        `--config=${kwokConfigPath}`,
        `--manage-nodes-with-annotation-selector=${FAKE_NODE_ANNOTATION}=fake`,
        `--cidr=${POD_CIDR}`,
        '--node-lease-duration-seconds=40',
      ]));
    }

    const kubectl = kubectlFor(binaries.kubectl, state.kubeconfig);
    const bootstrap = realNode
      ? fakeNodes(nodes, true)
      : bootstrapObjects({
        nodes,
        storageClasses: options.storageClasses ?? DEFAULT_STORAGE_CLASSES,
        persistentVolumesPerClass: options.persistentVolumesPerClass ?? 6,
        persistentVolumeCapacity: options.persistentVolumeCapacity ?? '100Gi',
      });
    if (bootstrap.length > 0) await kubectl.run(['apply', '--server-side', '--field-manager=test-cluster', '-f', '-'], { input: bootstrap.map((o) => stringify(o)).join('---\n') });

    const holds = (lease: string) => async () => {
      all.forEach(assertRunning);
      const res = await kubectl.run(['get', 'lease', '-n', 'kube-system', lease, '-o', 'jsonpath={.spec.holderIdentity}'], { reject: false });
      return res.exitCode === 0 && res.stdout.length > 0;
    };
    await waitFor('kube-controller-manager leader lease', holds('kube-controller-manager'), 120_000, 500);
    await waitFor('kube-scheduler leader lease', holds('kube-scheduler'), 120_000, 500);
    if (nodes > 0) {
      await waitFor(`${nodes} fake nodes Ready (kwok)`, async () => {
        all.forEach(assertRunning);
        const list = await kubectl.json<{ items: any[] }>(['get', 'nodes', '-l', 'type=kwok']);
        const ready = list.items.filter((n) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
        return ready.length === nodes;
      }, 120_000, 500);
    }
    // Pods are only admitted once their namespace's `default` ServiceAccount exists (serviceaccount controller).
    await waitFor('ServiceAccount default/default', async () => {
      all.forEach(assertRunning);
      return (await kubectl.run(['get', 'serviceaccount', 'default', '-n', 'default'], { reject: false })).exitCode === 0;
    }, 120_000, 500);

    if (network && pki.node && state.node) {
      await startRealNode(state, kubectl, pki, progress);
      all.push(...state.processes.filter((p) => ['containerd', 'kubelet', 'kube-proxy', 'kube-router', 'registry', 'ingress-forward'].includes(p.name)));
    }

    const startSeconds = (Date.now() - started) / 1000;
    progress(`cluster ready in ${startSeconds.toFixed(1)}s: ${realNode ? `real node ${REAL_NODE_NAME}` : 'no real node'}, ${nodes} fake nodes; KUBECONFIG=${state.kubeconfig}${state.ingressUrl ? `; INGRESS_URL=${state.ingressUrl}` : ''}`);
    const ownsDir = options.dir === undefined;
    const stop = async () => {
      await stopCluster(dir);
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
    };
    return { ...state, kubectl, startSeconds, stop, restartNode: () => restartNode(dir, kubectl, progress) };
  } catch (error) {
    await stopCluster(dir).catch((e: unknown) => progress(`cleanup after the failed start also failed: ${e instanceof Error ? e.message : String(e)}`));
    throw error;
  }
}

/** Builds and pushes the node's component images unless the registry storage has them all. */
async function ensureNodeImages(progress: Progress): Promise<void> {
  const missing: string[] = [];
  await withPushRegistryCheck(async (url) => {
    for (const reference of requiredNodeImages()) {
      const { repository, tag } = mirrorRepository(reference);
      if (!(await hasImage(url, repository, tag))) missing.push(reference);
    }
  });
  if (missing.length === 0) return;
  progress(`node images missing in the registry (${missing.join(', ')}): building and pushing them`);
  await ensureClusterImages({ progress });
}

/** Runs `fn` against a short-lived read-only view of the registry storage on 127.0.0.1. */
async function withPushRegistryCheck(fn: (url: string) => Promise<void>): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'etk-registry-check-'));
  try {
    const port = await freePort();
    const record = await startRegistry(work, 'registry-check', '127.0.0.1', port);
    try {
      await fn(`http://127.0.0.1:${port}`);
    } finally {
      await stopProcesses([record], 5000);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Starts the real node beside a running control plane: the registry on the host veth address,
 * containerd + kubelet + kube-proxy in the node's namespace, the add-ons, and the host-side
 * forward of INGRESS_URL to Traefik's NodePort.
 */
async function startRealNode(state: ClusterState, kubectl: Kubectl, pki: ClusterPki, progress: Progress): Promise<void> {
  const node = state.node!;
  const { network } = node;
  const certs = pki.node!;
  progress(`starting the real node ${REAL_NODE_NAME} in network namespace ${network.netns}`);
  const registry = await startRegistry(state.dir, 'registry', network.hostIP, REGISTRY_PORT);
  state.processes.push(registry);
  state.registryUrl = `http://${network.hostIP}:${REGISTRY_PORT}`;
  saveState(state);
  const paths = writeNodeFiles(state.dir, network, node.cgroupRoot, {
    caCert: pki.caCert,
    server: state.server,
    kubeletClient: certs.kubeletClient,
    kubeletServing: certs.kubeletServing,
    kubeProxyClient: certs.kubeProxy,
    kubeRouterClient: certs.kubeRouter,
  });
  const records = await startNodeProcesses(
    (name, binary, args, prefix) => launch(state, name, binary, args, prefix),
    paths,
    network,
    node.cgroupRoot,
    { kubelet: state.binaries.kubelet, kubeProxy: state.binaries['kube-proxy'], kubeRouter: state.binaries['kube-router'], crictl: state.binaries.crictl },
  );
  await waitFor(`node ${REAL_NODE_NAME} Ready`, async () => {
    records.forEach(assertRunning);
    const n = await kubectl.json<any>(['get', 'node', REAL_NODE_NAME], { reject: false }).catch(() => undefined);
    return n?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
  }, 120_000, 250);
  progress(`node ${REAL_NODE_NAME} Ready; applying add-ons (CoreDNS, local-path-provisioner, Traefik in ${node.ingressNamespace}, kube-router's RBAC)`);
  await kubectl.run(['apply', '--server-side', '--field-manager=test-cluster', '-f', '-'], {
    input: addonObjects({ ingressNamespace: node.ingressNamespace, volumeDir: paths.localVolumes }).map((o) => stringify(o)).join('---\n'),
  });
  for (const w of addonWorkloads(node.ingressNamespace)) {
    await waitFor(`${w.kind} ${w.namespace}/${w.name} ready`, async () => {
      records.forEach(assertRunning);
      const o = await kubectl.json<any>(['get', w.kind, w.name, '-n', w.namespace]);
      const want = o.spec.replicas;
      const ready = o.status?.readyReplicas;
      return want > 0 && ready === want && (o.status?.observedGeneration ?? 0) >= o.metadata.generation;
    }, 180_000, 500);
  }
  const ingressPort = state.ports.ingress!;
  const forward = launch(state, 'ingress-forward', '/usr/bin/socat', [
    `TCP-LISTEN:${ingressPort},bind=127.0.0.1,reuseaddr,fork`,
    `TCP:${network.nodeIP}:${INGRESS_NODE_PORT}`,
  ]);
  await waitForPort(ingressPort, '127.0.0.1', 10_000).catch((e: unknown) => {
    assertRunning(forward);
    throw e;
  });
  state.ingressUrl = `http://127.0.0.1:${ingressPort}`;
  saveState(state);
}

async function restartNode(dir: string, kubectl: Kubectl, progress: Progress): Promise<void> {
  const state = readState(dir);
  if (!state.node) throw new Error(`the cluster in ${dir} has no real node`);
  const byName = (name: string) => {
    const record = state.processes.find((p) => p.name === name);
    if (!record) throw new Error(`no ${name} process in ${dir}/state.json`);
    return record;
  };
  const containerd = byName('containerd');
  const kubelet = byName('kubelet');
  progress('restarting containerd and the kubelet');
  await stopProcesses([containerd, kubelet], 15_000);
  const paths = nodePaths(dir);
  const newContainerd = relaunch(containerd);
  state.processes = state.processes.map((p) => (p === containerd ? newContainerd : p));
  saveState(state);
  await waitFor('containerd answering again', async () => {
    assertRunning(newContainerd);
    return (await execa(state.binaries.crictl, ['--runtime-endpoint', `unix://${paths.containerdSocket}`, 'version'], { reject: false, timeout: 5000 })).exitCode === 0;
  }, 60_000, 200);
  const newKubelet = relaunch(kubelet);
  state.processes = state.processes.map((p) => (p === kubelet ? newKubelet : p));
  saveState(state);
  await waitFor(`node ${REAL_NODE_NAME} Ready after the restart`, async () => {
    assertRunning(newKubelet);
    const n = await kubectl.json<any>(['get', 'node', REAL_NODE_NAME]);
    const ready = n.status?.conditions?.find((c: any) => c.type === 'Ready');
    return ready?.status === 'True' && Date.parse(ready.lastHeartbeatTime) > Date.now() - 15_000;
  }, 120_000, 500);
}

/**
 * Stops every process recorded in `<dir>/state.json` and, with a real node, tears the node down
 * (pods, mounts, cgroups, network namespace, slot; see node/node.ts). Processes stop newest
 * first: SIGTERM to the process group, SIGKILL after `graceMs` (see `stopProcesses`). Idempotent.
 * @throws Error listing processes still alive after SIGKILL.
 */
export async function stopCluster(dir: string, graceMs = 10_000): Promise<void> {
  if (!existsSync(statePath(dir))) return;
  const state = readState(dir);
  const nodeNames = new Set(['containerd', 'kubelet', 'kube-proxy', 'kube-router']);
  const others = state.processes.filter((p) => !nodeNames.has(p.name));
  // The forward and the add-ons' clients first, then the node while the API server still runs, then the rest.
  const forward = others.filter((p) => p.name === 'ingress-forward');
  await stopProcesses(forward, graceMs);
  if (state.node) await stopNode(dir, state.node, state.processes.filter((p) => nodeNames.has(p.name)));
  await stopProcesses(others, graceMs);
}
