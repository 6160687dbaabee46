/**
 * The "restricted" Pod Security Standard, applied in one place for every workload
 * (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted).
 *
 * cdk8s-plus-27 already renders `runAsNonRoot`, `allowPrivilegeEscalation: false`,
 * `privileged: false` and `readOnlyRootFilesystem: true` for each container, but has no API
 * for the pod's `seccompProfile` and does not drop capabilities by default. `restrictPodTemplate`
 * adds both to a workload's pod template as JSON patches, after its containers are defined.
 */
import { ApiObject, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';

/** Numeric identity a pod runs as. */
export interface PodIdentity {
  /** `runAsUser`: numeric, non-zero UID. */
  readonly uid: number;
  /** `runAsGroup`: numeric GID. */
  readonly gid: number;
  /**
   * `fsGroup`: group that owns mounted volumes.
   * @default - no fsGroup
   */
  readonly fsGroup?: number;
}

/**
 * Pod-level security context for a restricted pod.
 * @throws Error if `uid` is 0 (root) or not an integer.
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
 * Container-level security context for a restricted container: non-root numeric UID,
 * read-only root filesystem, no privilege escalation (capabilities are dropped by `restrictPodTemplate`).
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
    // capabilities.drop [ALL] is added by restrictPodTemplate: cdk8s-plus-27's Capability enum has no ALL.
  };
}

/**
 * Completes a workload's pod template for the restricted profile: sets
 * `securityContext.seccompProfile.type: RuntimeDefault` on the pod, and
 * `capabilities.drop: [ALL]` on every container and init container defined so far.
 * Call it after the workload's last `addContainer`/`addInitContainer`.
 *
 * @param workload a cdk8s-plus Deployment, StatefulSet, DaemonSet or Job
 */
export function restrictPodTemplate(workload: kplus.Workload): void {
  const spec = '/spec/template/spec';
  const patches = [JsonPatch.add(`${spec}/securityContext/seccompProfile`, { type: 'RuntimeDefault' })];
  const dropAll = { drop: ['ALL'] };
  workload.containers.forEach((_, i) => patches.push(JsonPatch.add(`${spec}/containers/${i}/securityContext/capabilities`, dropAll)));
  workload.initContainers.forEach((_, i) =>
    patches.push(JsonPatch.add(`${spec}/initContainers/${i}/securityContext/capabilities`, dropAll)),
  );
  ApiObject.of(workload).addJsonPatch(...patches);
}

function assertNonRoot(identity: PodIdentity): void {
  if (!Number.isInteger(identity.uid) || identity.uid <= 0) {
    throw new Error(`uid must be a non-zero integer (restricted Pod Security Standard), got ${identity.uid}`);
  }
  if (!Number.isInteger(identity.gid) || identity.gid < 0) {
    throw new Error(`gid must be a non-negative integer, got ${identity.gid}`);
  }
}
