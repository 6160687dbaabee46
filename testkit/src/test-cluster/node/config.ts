/**
 * Pure renderers for the real node: network addressing per cluster slot, containerd's config and
 * registry mirrors, the CNI network, the KubeletConfiguration and the kubelet/kube-proxy flags.
 * Settings and the reason for each are the measured ones in `../shared/MACHINE-NOTES.md`
 * ("A real node").
 */
import { join } from 'node:path';

/** Addresses and names of one cluster's node network (see `nodeNetwork`). */
export interface NodeNetwork {
  /** Host-wide unique slot number, 1..250. */
  readonly slot: number;
  /** Network namespace the node side runs in (`/run/netns/<netns>`). */
  readonly netns: string;
  /** Host end of the veth pair (interface names are at most 15 bytes). */
  readonly hostVeth: string;
  /** Node (netns) end of the veth pair. */
  readonly nodeVeth: string;
  /** Address of the host end: the API server and the image registry listen here. */
  readonly hostIP: string;
  /** Address of the node end of the veth pair. */
  readonly nodeVethIP: string;
  /** Prefix length of the veth link network. */
  readonly vethPrefix: 30;
  /** The CNI bridge inside the netns; its address is the node IP. */
  readonly bridge: string;
  /** The kubelet's node IP: the bridge address (kubelet refuses a loopback node IP). */
  readonly nodeIP: string;
  /** Pod network of this node; the host routes it through the veth pair. */
  readonly podCIDR: string;
}

/** Service network, the same in every cluster (only reachable inside each node's netns). */
export const SERVICE_CIDR = '10.96.0.0/16';
/** ClusterIP of the `kubernetes` Service (first address of SERVICE_CIDR). */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
/** ClusterIP of the `kube-dns` Service (the kubelet's clusterDNS). */
export const CLUSTER_DNS_IP = '10.96.0.10';
export const CLUSTER_DOMAIN = 'cluster.local';
/** Registry port on the host veth address (the seeds' local registry port). */
export const REGISTRY_PORT = 5000;
/** Name of the real node (also its `kubernetes.io/hostname`). */
export const REAL_NODE_NAME = 'node-0';
/** Taint that keeps real workloads off kwok's fake nodes when a real node exists. */
export const FAKE_NODE_TAINT = { key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' } as const;

/**
 * The node network of `slot`: veth `10.201.<slot>.0/30` (host .1, node .2), pod network
 * `10.202.<slot>.0/24` with the bridge (node IP) at `.1`. Distinct slots never share an address,
 * interface name or route, so clusters started at the same time do not interfere.
 * @throws RangeError when `slot` is not an integer from 1 to 250.
 */
export function nodeNetwork(slot: number): NodeNetwork {
  if (!Number.isInteger(slot) || slot < 1 || slot > 250) throw new RangeError(`node network slot must be an integer from 1 to 250, got ${slot}`);
  return {
    slot,
    netns: `etk-node-${slot}`,
    hostVeth: `etk${slot}h`,
    nodeVeth: `etk${slot}n`,
    hostIP: `10.201.${slot}.1`,
    nodeVethIP: `10.201.${slot}.2`,
    vethPrefix: 30,
    bridge: 'cni0',
    nodeIP: `10.202.${slot}.1`,
    podCIDR: `10.202.${slot}.0/24`,
  };
}

/** Files and sockets of the node side, all under `<cluster dir>/node`. */
export interface NodePaths {
  readonly root: string;
  readonly containerdConfig: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly containerdSocket: string;
  /** containerd `config_path`: one `<registry host>/hosts.toml` per mirrored registry. */
  readonly registryHosts: string;
  readonly runcRoot: string;
  readonly cniConfDir: string;
  readonly cniIpamDir: string;
  readonly kubeletRoot: string;
  readonly kubeletConfig: string;
  readonly kubeletKubeconfig: string;
  readonly podLogs: string;
  readonly resolvConf: string;
  readonly kubeProxyKubeconfig: string;
  readonly kubeRouterKubeconfig: string;
  /** Directory local-path-provisioner creates volumes in. */
  readonly localVolumes: string;
}

export function nodePaths(clusterDir: string): NodePaths {
  const root = join(clusterDir, 'node');
  return {
    root,
    containerdConfig: join(root, 'containerd', 'config.toml'),
    containerdRoot: join(root, 'containerd', 'root'),
    containerdState: join(root, 'containerd', 'state'),
    containerdSocket: join(root, 'containerd', 'containerd.sock'),
    registryHosts: join(root, 'containerd', 'certs.d'),
    runcRoot: join(root, 'containerd', 'runc'),
    cniConfDir: join(root, 'cni', 'net.d'),
    cniIpamDir: join(root, 'cni', 'ipam'),
    kubeletRoot: join(root, 'kubelet'),
    kubeletConfig: join(root, 'kubelet-config.yaml'),
    kubeletKubeconfig: join(root, 'kubelet.kubeconfig'),
    podLogs: join(root, 'pod-logs'),
    resolvConf: join(root, 'resolv.conf'),
    kubeProxyKubeconfig: join(root, 'kube-proxy.kubeconfig'),
    kubeRouterKubeconfig: join(root, 'kube-router.kubeconfig'),
    localVolumes: join(root, 'local-volumes'),
  };
}

/** Debian's CNI plugin directory (`containernetworking-plugins`). */
export const CNI_BIN_DIR = '/usr/lib/cni';

/**
 * containerd 1.6 configuration (TOML, version 2): private root/state/socket, the CRI plugin as
 * MACHINE-NOTES.md measured it (no AppArmor, no hugetlb, OOM score adjustments restricted, stream
 * server on the node's loopback), runc with cgroupfs and a private runc root, sandbox network
 * namespaces under the state dir (so they go away with the cluster), registry mirrors from
 * `config_path`.
 */
export function containerdConfig(paths: NodePaths, sandboxImage: string): string {
  const q = (s: string) => JSON.stringify(s);
  return `version = 2
root = ${q(paths.containerdRoot)}
state = ${q(paths.containerdState)}
oom_score = 0
disabled_plugins = ["io.containerd.grpc.v1.cri.v1alpha2", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${q(paths.containerdSocket)}

[ttrpc]
  address = ${q(`${paths.containerdSocket}.ttrpc`)}

[debug]
  level = "warn"

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(sandboxImage)}
  restrict_oom_score_adj = true
  disable_apparmor = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  netns_mounts_under_state_dir = true
  max_container_log_line_size = 16384

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = ${q(paths.runcRoot)}

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = ${q(CNI_BIN_DIR)}
  conf_dir = ${q(paths.cniConfDir)}
  max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = ${q(paths.registryHosts)}
`;
}

/**
 * Registries whose images the node pulls from the local registry instead, as on minikube with the
 * seeds' local registry: Docker Hub (`postgres:…`, `redis:…`, …), `localhost:5000` (the local
 * environment's app image), IBM Container Registry (the ibm environment's app image), Quay
 * (postgres_exporter, with `monitoring.enabled`) and registry.k8s.io (kubectl of the backup
 * CronJobs, with `postgres.backup.enabled`).
 */
export const MIRRORED_REGISTRIES: Readonly<Record<string, string>> = {
  'docker.io': 'https://registry-1.docker.io',
  'localhost:5000': 'http://localhost:5000',
  'quay.io': 'https://quay.io',
  'registry.k8s.io': 'https://registry.k8s.io',
  'us.icr.io': 'https://us.icr.io',
};

/**
 * `certs.d/<registry>/hosts.toml` files (containerd's registry host configuration): every
 * mirrored registry resolves and pulls through `mirror` (an `http://host:port` registry).
 * @returns relative file path -> content.
 */
export function registryHostsFiles(mirror: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const [registry, server] of Object.entries(MIRRORED_REGISTRIES)) {
    files.set(join(registry, 'hosts.toml'), `server = ${JSON.stringify(server)}\n\n[host.${JSON.stringify(mirror)}]\n  capabilities = ["pull", "resolve"]\n  skip_verify = true\n`);
  }
  return files;
}

/**
 * The CNI network (conflist JSON): a `bridge` that is the pods' gateway, with hairpin mode (a
 * pod reaching itself through its own Service; kubelet's hairpinMode has no effect under CRI),
 * no masquerading (the host routes the pod network back through the veth pair), host-local
 * IPAM with a private data dir, then `portmap` for hostPorts.
 */
export function cniConflist(network: NodeNetwork, ipamDir: string): string {
  return `${JSON.stringify({
    cniVersion: '0.4.0',
    name: 'expense-tracker-test',
    plugins: [
      {
        type: 'bridge',
        bridge: network.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: ipamDir,
          ranges: [[{ subnet: network.podCIDR, gateway: network.nodeIP }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  }, null, 2)}\n`;
}

export interface KubeletSettings {
  readonly network: NodeNetwork;
  readonly paths: NodePaths;
  readonly caCert: string;
  readonly servingCert: { cert: string; key: string };
  /** cgroup parent of everything the kubelet runs, unique per cluster (`/etk-node-<slot>`). */
  readonly cgroupRoot: string;
}

/**
 * KubeletConfiguration (kubelet.config.k8s.io/v1beta1) as an object: cgroupfs with a per-cluster
 * cgroupRoot, no swap/kernel-default checks, no iptables utility chains (kube-proxy owns the
 * rules), webhook authentication and authorization, the node IP as address and cluster DNS on
 * the kube-dns Service, private resolv.conf, pod logs and root dir under the cluster directory.
 */
export function kubeletConfiguration(s: KubeletSettings): Record<string, unknown> {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: s.network.nodeIP,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    tlsCertFile: s.servingCert.cert,
    tlsPrivateKeyFile: s.servingCert.key,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: s.caCert } },
    authorization: { mode: 'Webhook' },
    cgroupDriver: 'cgroupfs',
    cgroupRoot: s.cgroupRoot,
    cgroupsPerQOS: true,
    enforceNodeAllocatable: ['pods'],
    failSwapOn: false,
    kernelMemcgNotification: false,
    protectKernelDefaults: false,
    makeIPTablesUtilChains: false,
    hairpinMode: 'none',
    oomScoreAdj: 0,
    clusterDomain: CLUSTER_DOMAIN,
    clusterDNS: [CLUSTER_DNS_IP],
    resolvConf: s.paths.resolvConf,
    podLogsDir: s.paths.podLogs,
    containerRuntimeEndpoint: `unix://${s.paths.containerdSocket}`,
    staticPodPath: '',
    serializeImagePulls: false,
    // Single test node on a shared machine: never evict for disk or memory pressure.
    evictionHard: { 'memory.available': '0%', 'nodefs.available': '0%', 'imagefs.available': '0%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    maxPods: 110,
    podPidsLimit: -1,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    volumeStatsAggPeriod: '0s',
    shutdownGracePeriod: '0s',
    localStorageCapacityIsolation: true,
    logging: { format: 'text', verbosity: 1 },
  };
}

/** kubelet command-line flags (the rest is in the KubeletConfiguration file). */
export function kubeletArgs(paths: NodePaths, network: NodeNetwork): string[] {
  return [
    `--config=${paths.kubeletConfig}`,
    `--kubeconfig=${paths.kubeletKubeconfig}`,
    `--root-dir=${paths.kubeletRoot}`,
    `--hostname-override=${REAL_NODE_NAME}`,
    `--node-ip=${network.nodeIP}`,
    '--node-labels=expense-tracker.dev/test-node=real',
    `--cert-dir=${join(paths.kubeletRoot, 'pki')}`,
  ];
}

/**
 * kube-proxy flags (nftables mode): the node's pod network as cluster CIDR, NodePorts on the node
 * IP only, no conntrack sysctl changes (`0` = leave the kernel's values), metrics and healthz on
 * the node's own loopback, no OOM score adjustment (not permitted here).
 */
export function kubeProxyArgs(paths: NodePaths, network: NodeNetwork): string[] {
  return [
    `--kubeconfig=${paths.kubeProxyKubeconfig}`,
    '--proxy-mode=nftables',
    `--hostname-override=${REAL_NODE_NAME}`,
    `--cluster-cidr=${network.podCIDR}`,
    `--nodeport-addresses=${network.nodeIP}/32`,
    '--conntrack-max-per-core=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
    '--metrics-bind-address=127.0.0.1:10249',
    '--healthz-bind-address=127.0.0.1:10256',
    '--oom-score-adj=0',
    '--v=1',
  ];
}

/**
 * kube-router flags: only its network policy controller (iptables + ipset in the node's
 * namespace; bridged pod traffic passes them through bridge netfilter), no routing, no service
 * proxy (kube-proxy's job), no CNI config, health and metrics off.
 */
export function kubeRouterArgs(kubeconfig: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--hostname-override=${REAL_NODE_NAME}`,
    '--run-firewall=true',
    '--run-router=false',
    '--run-service-proxy=false',
    '--run-loadbalancer=false',
    '--enable-cni=false',
    '--enable-ipv6=false',
    '--health-port=0',
    '--metrics-port=0',
    '--v=1',
  ];
}

/** The private resolv.conf pods with `dnsPolicy: Default` get (nothing to resolve outside the cluster). */
export function nodeResolvConf(): string {
  return `nameserver ${CLUSTER_DNS_IP}\nsearch ${CLUSTER_DOMAIN}\noptions ndots:1\n`;
}
