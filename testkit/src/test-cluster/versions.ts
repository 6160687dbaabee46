/**
 * Pinned versions and build recipes of the binaries the test cluster runs: the control plane
 * and the real node's components.
 *
 * Every binary is built from the Go module proxy through a wrapper module kept in
 * `testkit/src/test-cluster/go/<module>/` (go.mod + go.sum, no binaries), with `CGO_ENABLED=0`,
 * `GOTOOLCHAIN=local` and `-trimpath`, into `~/.cache/expense-tracker/bin/<name>-<version>`.
 *
 * Version choices:
 * - Kubernetes v1.33.13: latest 1.33 patch on the module proxy. Its wrapper module replaces every
 *   staging module (`k8s.io/api`, `k8s.io/client-go`, ...) with the matching v0.33.13 tag, the list
 *   generated from k8s.io/kubernetes' own go.mod by `gen-go-mod.ts`.
 * - etcd v3.5.35: Kubernetes 1.33 supports etcd >= 3.5.x (Debian's 3.4.23 is below that).
 * - kwok v0.7.0: the release built against the Kubernetes 1.33 libraries (v0.8.0 needs 1.36's).
 * - kubelet and kube-proxy: the same Kubernetes wrapper module and version as the control plane.
 * - CoreDNS v1.12.4: the newest 1.12 patch the module proxy serves; built with the plugins the
 *   cluster's Corefile uses (go/coredns/main.go), not upstream's full set.
 * - crictl (sigs.k8s.io/cri-tools) v1.34.0: works with containerd 1.6's CRI v1 (no Debian package).
 * - crictl, CoreDNS and Traefik compile one version of each dependency they share
 *   (`SHARED_DEPENDENCY_GROUPS`, `align-go-mod.ts`): a cold build compiles client-go & co. once.
 * - kube-router v2.1.0, network policy controller only (iptables + ipset): NetworkPolicy
 *   enforcement. kube-network-policies (nftables + NFQUEUE) cannot run here: this kernel has no
 *   nftables `queue` expression.
 * - local-path-provisioner v0.0.30: dynamic provisioning of `local` PersistentVolumes with node
 *   affinity (hostPath volumes ignore fsGroup).
 * - Traefik v3.6.12: the Ingress controller (Kubernetes Ingress + ingress-nginx providers). 3.7.x
 *   needs modules the proxy does not serve (see go/traefik/go.mod). Built against a copy of lego
 *   whose ACME DNS-01 provider registry is empty (go/traefik/overlay/, `module-patch.ts`): Traefik
 *   imports it unconditionally and it pulls every DNS provider's SDK (2218 → 1372 packages).
 * - Prometheus Operator and prometheus-config-reloader (same module): the release the charts'
 *   monitor classes are generated from (`PROMETHEUS_OPERATOR`, model/monitoring.ts), for clusters
 *   of environments with `monitoring.enabled`. Not aligned with a group: its dependencies follow
 *   its own go.mod.
 * - Prometheus v3.5.0 (the version the operator's module requires), in its own wrapper module
 *   with its own pins (its Kubernetes discovery needs client-go v0.32; the operator's module
 *   raises client-go to v0.33), Kubernetes service discovery only (go/prometheus/overlay/, `module-patch.ts`):
 *   upstream registers every cloud's discovery and its SDK. Debian's `prometheus` package cannot
 *   stand in: it is built without Kubernetes discovery, which the operator's configuration uses.
 */
import { PROMETHEUS_OPERATOR } from '@expense-tracker/model/monitoring';

/** Kubernetes release of kube-apiserver, kube-controller-manager, kube-scheduler and kubectl. */
export const KUBERNETES_VERSION = 'v1.33.13';
/** Staging modules (k8s.io/api, ...) are tagged v0.<minor>.<patch> for Kubernetes v1.<minor>.<patch>. */
export const KUBERNETES_STAGING_VERSION = KUBERNETES_VERSION.replace(/^v1\./, 'v0.');
export const ETCD_VERSION = 'v3.5.35';
export const KWOK_VERSION = 'v0.7.0';
export const COREDNS_VERSION = 'v1.12.4';
export const CRICTL_VERSION = 'v1.34.0';
export const KUBE_ROUTER_VERSION = 'v2.1.0';
export const LOCAL_PATH_PROVISIONER_VERSION = 'v0.0.30';
export const TRAEFIK_VERSION = 'v3.6.12';
/**
 * The Prometheus server the operator runs: the release whose Go module (`github.com/prometheus/prometheus`
 * v0.305.0, Prometheus 3.x modules are tagged v0.3xx) the pinned operator itself requires.
 */
export const PROMETHEUS_VERSION = 'v3.5.0';
/**
 * Wrapper modules whose shared dependencies (k8s.io/client-go, grpc, protobuf, x/net, ...) are
 * kept at one version each by `align-go-mod.ts`, so a cold build compiles those packages once
 * for the group (Go's build cache is keyed by content). Not aligned: the Kubernetes wrapper
 * (Kubernetes' own pins), kwok (built with the control plane), kube-router and
 * local-path-provisioner (older client-go APIs).
 */
export const SHARED_DEPENDENCY_GROUPS: ReadonlyArray<readonly BinarySpec['module'][]> = [['crictl', 'coredns', 'traefik']];
/** Version of our pod sandbox program (go/pause); bump it when main.go changes. */
export const PAUSE_VERSION = 'v1';

/** Version variables Kubernetes components print and report over /version (hack/lib/version.sh upstream). */
function kubernetesVersionLdflags(version: string): string[] {
  const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(version) ?? [];
  if (!major || !minor) throw new Error(`KUBERNETES_VERSION ${version} is not vMAJOR.MINOR.PATCH`);
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=${version}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ]);
}

export interface BinarySpec {
  /** File name prefix in the cache (`<name>-<version>`), also the command's name. */
  name: ClusterBinary;
  version: string;
  /** Wrapper module directory under testkit/src/test-cluster/go/. */
  module: 'kubernetes' | 'etcd' | 'kwok' | 'coredns' | 'crictl' | 'local-path-provisioner' | 'traefik' | 'pause' | 'kube-router' | 'prometheus-operator' | 'prometheus';
  /** Main package built with `go build`. */
  pkg: string;
  /**
   * Dependency modules built from a patched copy (files under `go/<module>/overlay/<module path>/`,
   * see `module-patch.ts`). Such a build differs from upstream's, so it also has a `variant`.
   */
  patchModules?: readonly string[];
  /**
   * Suffix of the cached binary's name and image tag (`<name>-<version>-<variant>`) for a build
   * that differs from upstream's release of `version` (patched or raised dependencies). Cached
   * binaries are found by name, so change it whenever the wrapper module's go.mod, go.sum or
   * overlay changes; otherwise a cache keeps serving the old build.
   */
  variant?: string;
  /** Linker flags; `-s -w` strips symbol tables (as upstream release builds do). */
  ldflags: string[];
  /**
   * Arguments that print the version, and a string the output must contain (guards the ldflags).
   * Absent for programs without a version flag: then the cached file (written atomically under
   * its versioned name) is proof enough.
   */
  versionCheck?: { args: string[]; expect: string };
  /**
   * `control-plane`: the API server side (always needed); `node`: the real node's components;
   * `monitoring`: the Prometheus Operator stack, run only by clusters of environments with
   * `monitoring.enabled` (the others need not wait for its build).
   */
  role: 'control-plane' | 'node' | 'monitoring';
}

export type ControlPlaneBinary = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kubectl' | 'kwok';
export type NodeBinary = 'kubelet' | 'kube-proxy' | 'coredns' | 'crictl' | 'local-path-provisioner' | 'traefik' | 'pause' | 'kube-router'
  | 'prometheus-operator' | 'prometheus-config-reloader' | 'prometheus';
export type ClusterBinary = ControlPlaneBinary | NodeBinary;

/** The version variable the Prometheus Operator's binaries print (`--short-version`) and derive default image tags from. */
const PROMETHEUS_OPERATOR_LDFLAGS = ['-s', '-w', `-X github.com/prometheus/common/version.Version=${PROMETHEUS_OPERATOR.version.slice(1)}`];
const prometheusOperator = (name: 'prometheus-operator' | 'prometheus-config-reloader', cmd: string): BinarySpec => ({
  name,
  role: 'monitoring',
  version: PROMETHEUS_OPERATOR.version,
  module: 'prometheus-operator',
  pkg: `${PROMETHEUS_OPERATOR.module}/cmd/${cmd}`,
  ldflags: PROMETHEUS_OPERATOR_LDFLAGS,
  versionCheck: { args: ['--short-version'], expect: PROMETHEUS_OPERATOR.version.slice(1) },
});

const k8s = (name: ClusterBinary, versionArgs: string[], role: BinarySpec['role'] = 'control-plane'): BinarySpec => ({
  name,
  role,
  version: KUBERNETES_VERSION,
  module: 'kubernetes',
  pkg: `k8s.io/kubernetes/cmd/${name}`,
  ldflags: ['-s', '-w', ...kubernetesVersionLdflags(KUBERNETES_VERSION)],
  versionCheck: { args: versionArgs, expect: KUBERNETES_VERSION },
});

/** Build order: the order the launcher needs them in, so a partial cache is still useful. */
export const BINARIES: readonly BinarySpec[] = [
  {
    name: 'etcd',
    role: 'control-plane',
    version: ETCD_VERSION,
    module: 'etcd',
    pkg: 'go.etcd.io/etcd/server/v3',
    ldflags: ['-s', '-w'],
    versionCheck: { args: ['--version'], expect: `etcd Version: ${ETCD_VERSION.slice(1)}` },
  },
  k8s('kube-apiserver', ['--version']),
  k8s('kube-controller-manager', ['--version']),
  k8s('kube-scheduler', ['--version']),
  {
    name: 'kwok',
    role: 'control-plane',
    version: KWOK_VERSION,
    module: 'kwok',
    pkg: 'sigs.k8s.io/kwok/cmd/kwok',
    ldflags: ['-s', '-w', `-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}`, `-X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBERNETES_VERSION}`],
    versionCheck: { args: ['--version'], expect: KWOK_VERSION },
  },
  k8s('kubectl', ['version', '--client']),
  // The real node: Kubernetes packages first (warm after the control plane), then the others.
  k8s('kubelet', ['--version'], 'node'),
  k8s('kube-proxy', ['--version'], 'node'),
  {
    name: 'pause',
    role: 'node',
    version: PAUSE_VERSION,
    module: 'pause',
    pkg: '.',
    ldflags: ['-s', '-w'],
  },
  {
    name: 'crictl',
    role: 'node',
    version: CRICTL_VERSION,
    module: 'crictl',
    pkg: 'sigs.k8s.io/cri-tools/cmd/crictl',
    // Dependencies raised to the versions Traefik and CoreDNS compile (SHARED_DEPENDENCY_GROUPS).
    variant: 'aligned',
    ldflags: ['-s', '-w', `-X sigs.k8s.io/cri-tools/pkg/version.Version=${CRICTL_VERSION}`],
    versionCheck: { args: ['--version'], expect: CRICTL_VERSION },
  },
  {
    name: 'coredns',
    role: 'node',
    version: COREDNS_VERSION,
    module: 'coredns',
    // go/coredns/main.go: CoreDNS with the plugins the cluster's Corefile uses.
    pkg: '.',
    // Dependencies raised to the versions Traefik and crictl compile (SHARED_DEPENDENCY_GROUPS).
    variant: 'aligned',
    ldflags: ['-s', '-w'],
    versionCheck: { args: ['-version'], expect: `CoreDNS-${COREDNS_VERSION.slice(1)}` },
  },
  {
    name: 'kube-router',
    role: 'node',
    version: KUBE_ROUTER_VERSION,
    module: 'kube-router',
    pkg: 'github.com/cloudnativelabs/kube-router/v2/cmd/kube-router',
    ldflags: ['-s', '-w', `-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=${KUBE_ROUTER_VERSION}`],
    versionCheck: { args: ['--version'], expect: KUBE_ROUTER_VERSION },
  },
  {
    name: 'local-path-provisioner',
    role: 'node',
    version: LOCAL_PATH_PROVISIONER_VERSION,
    module: 'local-path-provisioner',
    pkg: 'github.com/rancher/local-path-provisioner',
    ldflags: ['-s', '-w', `-X main.VERSION=${LOCAL_PATH_PROVISIONER_VERSION}`],
    versionCheck: { args: ['--version'], expect: LOCAL_PATH_PROVISIONER_VERSION },
  },
  {
    name: 'traefik',
    role: 'node',
    version: TRAEFIK_VERSION,
    module: 'traefik',
    pkg: 'github.com/traefik/traefik/v3/cmd/traefik',
    patchModules: ['github.com/go-acme/lego/v4'],
    variant: 'nodns',
    ldflags: ['-s', '-w', `-X github.com/traefik/traefik/v3/pkg/version.Version=${TRAEFIK_VERSION}`],
    versionCheck: { args: ['version'], expect: TRAEFIK_VERSION },
  },
  // Last: only clusters with monitoring run them.
  prometheusOperator('prometheus-operator', 'operator'),
  prometheusOperator('prometheus-config-reloader', 'prometheus-config-reloader'),
  {
    name: 'prometheus',
    role: 'monitoring',
    version: PROMETHEUS_VERSION,
    module: 'prometheus',
    pkg: 'github.com/prometheus/prometheus/cmd/prometheus',
    patchModules: ['github.com/prometheus/prometheus'],
    variant: 'k8ssd',
    ldflags: ['-s', '-w', `-X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION.slice(1)}`],
    versionCheck: { args: ['--version'], expect: `prometheus, version ${PROMETHEUS_VERSION.slice(1)}` },
  },
];
