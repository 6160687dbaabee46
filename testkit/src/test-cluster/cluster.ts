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
import { assertRunning, freePort, isRunning, launchDetached, stopProcesses, type ProcessRecord } from '../process/index.js';
import { ensureBinaries, kwokStagesPath, stderrProgress, type BinaryPaths, type Progress } from './build.js';
import { kubectlFor, waitFor, type Kubectl } from './kubectl.js';
import { createPki, type ClusterPki, type KeyPairFiles } from './pki.js';

/** A StorageClass the cluster offers, with statically provisioned PersistentVolumes. */
export interface StorageClassSpec {
  name: string;
  /** `Immediate` (minikube's `standard`) or `WaitForFirstConsumer` (IBM VPC block classes). */
  volumeBindingMode: 'Immediate' | 'WaitForFirstConsumer';
  /** Marks it as the default StorageClass. */
  isDefault?: boolean;
}

/** Storage classes of the environments in model/environments/ (local = minikube, ibm = IKS VPC block). */
export const DEFAULT_STORAGE_CLASSES: StorageClassSpec[] = [
  { name: 'standard', volumeBindingMode: 'Immediate', isDefault: true },
  { name: 'ibmc-vpc-block-10iops-tier', volumeBindingMode: 'WaitForFirstConsumer' },
];

/** Ingress classes the environments use: minikube's ingress addon and IKS's ALBs. */
export const DEFAULT_INGRESS_CLASSES: { name: string; controller: string }[] = [
  { name: 'nginx', controller: 'k8s.io/ingress-nginx' },
  { name: 'public-iks-k8s-nginx', controller: 'k8s.io/ingress-nginx' },
  { name: 'public-iks-traefik', controller: 'traefik.io/ingress-controller' },
];

export interface StartOptions {
  /** Directory for all state; created if missing. Default: fresh mkdtemp under the OS temp dir. */
  dir?: string;
  /** Number of fake nodes (default 3, zones zone-a, zone-b, zone-c, ...). */
  nodes?: number;
  storageClasses?: StorageClassSpec[];
  /** PersistentVolumes pre-created per StorageClass (default 6). */
  persistentVolumesPerClass?: number;
  /** Capacity of each PersistentVolume (default `100Gi`; claims bind to any PV at least as large). */
  persistentVolumeCapacity?: string;
  /** kwok delays pod readiness by a uniform random time in [min, max] milliseconds (default 300..1500; max 0 = none). */
  podReadyDelayMs?: { min: number; max: number };
  progress?: Progress;
}

export type { ProcessRecord } from '../process/index.js';

export interface ClusterState {
  dir: string;
  /** Admin kubeconfig (cluster-admin). */
  kubeconfig: string;
  /** API server URL, `https://127.0.0.1:<port>`. */
  server: string;
  ports: { etcdClient: number; etcdPeer: number; apiserver: number };
  processes: ProcessRecord[];
  binaries: BinaryPaths;
}

export interface TestCluster extends ClusterState {
  kubectl: Kubectl;
  /** Seconds from process start to a ready, bootstrapped cluster (binaries already built). */
  startSeconds: number;
  /** Stops every process (see stopCluster); also removes the directory if startCluster created it (no `dir` option). */
  stop(): Promise<void>;
}

const SERVICE_CIDR = '10.96.0.0/16';
const SERVICE_IP = '10.96.0.1';
const POD_CIDR = '10.244.0.0/16';
const FAKE_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

function writeKubeconfig(path: string, server: string, caCert: string, user: string, client: KeyPairFiles): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'expense-tracker-test', cluster: { server, 'certificate-authority': caCert } }],
    users: [{ name: user, user: { 'client-certificate': client.cert, 'client-key': client.key } }],
    contexts: [{ name: 'expense-tracker-test', context: { cluster: 'expense-tracker-test', user } }],
    'current-context': 'expense-tracker-test',
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
}

const statePath = (dir: string) => join(dir, 'state.json');
/** Writes `<state.dir>/state.json` (read back by `readState`). */
export const saveState = (state: ClusterState): void => writeFileSync(statePath(state.dir), JSON.stringify(state, null, 2) + '\n');

/** Reads `<dir>/state.json` written by `startCluster`. @throws Error when absent or unreadable. */
export function readState(dir: string): ClusterState {
  if (!existsSync(statePath(dir))) throw new Error(`no test cluster state in ${dir} (state.json missing)`);
  return JSON.parse(readFileSync(statePath(dir), 'utf8')) as ClusterState;
}

/** Starts `binary` detached in its own process group, output appended to `<dir>/<name>.log`, and records it in state.json. */
function launch(state: ClusterState, name: string, binary: string, args: string[]): ProcessRecord {
  const record = launchDetached({ name, binary, args, log: join(state.dir, `${name}.log`), cwd: state.dir });
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
  const objects: object[] = [];
  for (let i = 0; i < options.nodes; i += 1) {
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
      status: {
        allocatable: { cpu: '8', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' },
        capacity: { cpu: '8', memory: '32Gi', pods: '110', 'ephemeral-storage': '100Gi' },
      },
    });
  }
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
          accessModes: ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Retain',
          volumeMode: 'Filesystem',
          // Never mounted: kwok runs no containers. hostPath keeps the PV node-independent.
          hostPath: { path: `/var/lib/expense-tracker-test-cluster/${name}`, type: 'DirectoryOrCreate' },
        },
      });
    }
  }
  for (const ic of DEFAULT_INGRESS_CLASSES) {
    objects.push({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: ic.name }, spec: { controller: ic.controller } });
  }
  return objects;
}

/**
 * Builds the binaries if missing, then starts and bootstraps a cluster (see module docs).
 * On any failure every process already started is stopped before the error propagates.
 * @throws Error naming the component and its log tail when a process exits or a readiness wait times out.
 */
export async function startCluster(options: StartOptions = {}): Promise<TestCluster> {
  const progress = options.progress ?? stderrProgress;
  const { paths: binaries } = await ensureBinaries({ progress, roles: 'control-plane' });
  const started = Date.now();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'expense-tracker-cluster-'));
  mkdirSync(dir, { recursive: true });
  if (existsSync(statePath(dir))) {
    if (readState(dir).processes.some(isRunning)) {
      throw new Error(`a test cluster is already running from ${dir}; stop it first (test-cluster down --dir ${dir})`);
    }
    // Leftovers of a stopped or crashed cluster (old etcd data, PKI): start from scratch.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  const ports = { etcdClient: await freePort(), etcdPeer: await freePort(), apiserver: await freePort() };
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const state: ClusterState = { dir, kubeconfig: join(dir, 'kubeconfig'), server, ports, processes: [], binaries };
  saveState(state);
  try {
    progress(`starting control plane in ${dir}`);
    const pki = await createPki(dir, SERVICE_IP);
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
      '--bind-address=127.0.0.1', `--secure-port=${ports.apiserver}`, '--advertise-address=127.0.0.1',
      `--tls-cert-file=${pki.apiserver.cert}`, `--tls-private-key-file=${pki.apiserver.key}`,
      `--client-ca-file=${pki.caCert}`,
      `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
      `--service-account-key-file=${pki.serviceAccountPub}`, `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--authorization-mode=Node,RBAC',
      // PodSecurity is on by default since 1.25; listed so the intent is explicit.
      '--enable-admission-plugins=NodeRestriction,PodSecurity',
      // No kubelets, no kube-proxy: nothing consumes the `kubernetes` Service endpoints (127.0.0.1 is not a valid endpoint).
      '--endpoint-reconciler-type=none',
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
    const kwokConfigPath = join(dir, 'kwok.yaml');
    writeFileSync(kwokConfigPath, kwokConfig(readFileSync(kwokStagesPath(), 'utf8'), options.podReadyDelayMs ?? { min: 300, max: 1500 }));
    const kwok = launch(state, 'kwok', binaries.kwok, [
      `--kubeconfig=${componentKubeconfig('kwok', 'kwok-controller', pki.clients.kwok)}`,
      `--config=${kwokConfigPath}`,
      `--manage-nodes-with-annotation-selector=${FAKE_NODE_ANNOTATION}=fake`,
      `--cidr=${POD_CIDR}`,
      '--node-lease-duration-seconds=40',
    ]);

    const kubectl = kubectlFor(binaries.kubectl, state.kubeconfig);
    const nodes = options.nodes ?? 3;
    const bootstrap = bootstrapObjects({
      nodes,
      storageClasses: options.storageClasses ?? DEFAULT_STORAGE_CLASSES,
      persistentVolumesPerClass: options.persistentVolumesPerClass ?? 6,
      persistentVolumeCapacity: options.persistentVolumeCapacity ?? '100Gi',
    });
    await kubectl.run(['apply', '--server-side', '--field-manager=test-cluster', '-f', '-'], { input: bootstrap.map((o) => stringify(o)).join('---\n') });

    const all = [kcm, scheduler, kwok];
    const holds = (lease: string) => async () => {
      all.forEach(assertRunning);
      const res = await kubectl.run(['get', 'lease', '-n', 'kube-system', lease, '-o', 'jsonpath={.spec.holderIdentity}'], { reject: false });
      return res.exitCode === 0 && res.stdout.length > 0;
    };
    await waitFor('kube-controller-manager leader lease', holds('kube-controller-manager'), 120_000, 500);
    await waitFor('kube-scheduler leader lease', holds('kube-scheduler'), 120_000, 500);
    await waitFor(`${nodes} fake nodes Ready (kwok)`, async () => {
      all.forEach(assertRunning);
      const list = await kubectl.json<{ items: any[] }>(['get', 'nodes']);
      const ready = list.items.filter((n) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === nodes;
    }, 120_000, 500);
    // Pods are only admitted once their namespace's `default` ServiceAccount exists (serviceaccount controller).
    await waitFor('ServiceAccount default/default', async () => {
      all.forEach(assertRunning);
      return (await kubectl.run(['get', 'serviceaccount', 'default', '-n', 'default'], { reject: false })).exitCode === 0;
    }, 120_000, 500);

    const startSeconds = (Date.now() - started) / 1000;
    progress(`cluster ready in ${startSeconds.toFixed(1)}s: ${nodes} fake nodes; KUBECONFIG=${state.kubeconfig}`);
    const ownsDir = options.dir === undefined;
    const stop = async () => {
      await stopCluster(dir);
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
    };
    return { ...state, kubectl, startSeconds, stop };
  } catch (error) {
    await stopCluster(dir).catch(() => undefined);
    throw error;
  }
}

/**
 * Stops every process recorded in `<dir>/state.json`, newest first: SIGTERM to its process
 * group, SIGKILL after `graceMs` (see `stopProcesses`). Idempotent.
 * @throws Error listing processes still alive after SIGKILL.
 */
export async function stopCluster(dir: string, graceMs = 10_000): Promise<void> {
  if (!existsSync(statePath(dir))) return;
  await stopProcesses(readState(dir).processes, graceMs);
}
