/**
 * The "restricted" Pod Security Standard, as security contexts
 * (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted). `Workload`
 * applies them to every pod and container it creates.
 *
 * cdk8s-plus-27 renders `runAsNonRoot`, `allowPrivilegeEscalation: false`, `privileged: false`
 * and `readOnlyRootFilesystem: true` from these props; the pod's `seccompProfile` has no API
 * there, so `Workload` adds `RUNTIME_DEFAULT_SECCOMP` as a JSON patch.
 */
import * as kplus from 'cdk8s-plus-27';

/** Numeric identity a pod runs as. */
export interface PodIdentity {
  /** `runAsUser`: numeric, non-zero UID. */
  readonly uid: number;
  /** `runAsGroup`: numeric GID. */
  readonly gid: number;
  /**
   * `fsGroup`: group that owns mounted volumes (changed only when the volume root does not match).
   * @default - no fsGroup
   */
  readonly fsGroup?: number;
}

/** `securityContext.seccompProfile` of every pod: the container runtime's default filter. */
export const RUNTIME_DEFAULT_SECCOMP = { type: 'RuntimeDefault' } as const;

/**
 * Pod-level security context for a restricted pod.
 * @throws Error if `uid` is 0 (root) or not an integer
 */
export function restrictedPodSecurityContext(identity: PodIdentity): kplus.PodSecurityContextProps {
  assertNonRoot(identity);
  return {
    ensureNonRoot: true,
    user: identity.uid,
    group: identity.gid,
    fsGroup: identity.fsGroup,
    fsGroupChangePolicy: identity.fsGroup === undefined ? undefined : kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH,
  };
}

/**
 * Container-level security context for a restricted container: non-root numeric UID, read-only
 * root filesystem, no privilege escalation, every capability dropped.
 * @throws Error if `uid` is 0 (root) or not an integer
 */
export function restrictedContainerSecurityContext(identity: PodIdentity): kplus.ContainerSecurityContextProps {
  assertNonRoot(identity);
  return {
    ensureNonRoot: true,
    user: identity.uid,
    group: identity.gid,
    privileged: false,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    // cdk8s-plus-27's Capability enum lists each capability but not `ALL`, which Kubernetes accepts.
    capabilities: { drop: ['ALL' as kplus.Capability] },
  };
}

function assertNonRoot(identity: PodIdentity): void {
  if (!Number.isInteger(identity.uid) || identity.uid <= 0) {
    throw new Error(`uid must be a non-zero integer (restricted Pod Security Standard), got ${identity.uid}`);
  }
  if (!Number.isInteger(identity.gid) || identity.gid < 0) {
    throw new Error(`gid must be a non-negative integer, got ${identity.gid}`);
  }
}
