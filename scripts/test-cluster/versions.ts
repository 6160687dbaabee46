/**
 * Pinned versions and build recipes of the control-plane binaries the `cluster` test tier runs.
 *
 * Every binary is built from the Go module proxy through a wrapper module kept in
 * `scripts/test-cluster/go/<module>/` (go.mod + go.sum, no binaries), with `CGO_ENABLED=0`,
 * `GOTOOLCHAIN=local` and `-trimpath`, into `~/.cache/expense-tracker/bin/<name>-<version>`.
 *
 * Version choices:
 * - Kubernetes v1.33.13: latest 1.33 patch on the module proxy. Its wrapper module replaces every
 *   staging module (`k8s.io/api`, `k8s.io/client-go`, ...) with the matching v0.33.13 tag, the list
 *   generated from k8s.io/kubernetes' own go.mod by `gen-go-mod.ts`.
 * - etcd v3.5.35: Kubernetes 1.33 supports etcd >= 3.5.x (Debian's 3.4.23 is below that).
 * - kwok v0.7.0: the release built against the Kubernetes 1.33 libraries (v0.8.0 needs 1.36's).
 */

/** Kubernetes release of kube-apiserver, kube-controller-manager, kube-scheduler and kubectl. */
export const KUBERNETES_VERSION = 'v1.33.13';
/** Staging modules (k8s.io/api, ...) are tagged v0.<minor>.<patch> for Kubernetes v1.<minor>.<patch>. */
export const KUBERNETES_STAGING_VERSION = KUBERNETES_VERSION.replace(/^v1\./, 'v0.');
export const ETCD_VERSION = 'v3.5.35';
export const KWOK_VERSION = 'v0.7.0';

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
  name: ControlPlaneBinary;
  version: string;
  /** Wrapper module directory under scripts/test-cluster/go/. */
  module: 'kubernetes' | 'etcd' | 'kwok';
  /** Main package built with `go build`. */
  pkg: string;
  /** Linker flags; `-s -w` strips symbol tables (as upstream release builds do). */
  ldflags: string[];
  /** Arguments that print the version, and a string the output must contain (guards the ldflags). */
  versionCheck: { args: string[]; expect: string };
}

export type ControlPlaneBinary = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kubectl' | 'kwok';

const k8s = (name: ControlPlaneBinary, versionArgs: string[]): BinarySpec => ({
  name,
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
    version: KWOK_VERSION,
    module: 'kwok',
    pkg: 'sigs.k8s.io/kwok/cmd/kwok',
    ldflags: ['-s', '-w', `-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}`, `-X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBERNETES_VERSION}`],
    versionCheck: { args: ['--version'], expect: KWOK_VERSION },
  },
  k8s('kubectl', ['version', '--client']),
];
