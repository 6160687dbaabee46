/**
 * Conversion of the environment model's requests/limits into cdk8s-plus container resources,
 * and the ephemeral-storage budget of a container.
 */
import { Size } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-27';
import type * as kplus from 'cdk8s-plus-27';
import { toBytes, toMillicores } from '@expense-tracker/model/quantities';

/** Requests and limits as written in an environment config (`cpu`: `"250m"`/`"1"`, `memory`: `"128Mi"`). */
export interface ResourceSpec {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu: string; readonly memory: string };
}

/**
 * MiB of node disk a container's logs may take: the kubelet keeps at most `containerLogMaxFiles`
 * (default 5) files of `containerLogMaxSize` (default 10Mi) per container
 * (https://kubernetes.io/docs/concepts/cluster-administration/logging/#log-rotation), and counts
 * them against the container's ephemeral-storage limit
 * (https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#local-ephemeral-storage).
 */
export const CONTAINER_LOG_MEBIBYTES = 5 * 10;

/** Converts a `ResourceSpec` to cdk8s-plus `ContainerResources` (CPU in millicores, memory in MiB). */
export function containerResources(spec: ResourceSpec): kplus.ContainerResources {
  return {
    cpu: { request: Cpu.millis(toMillicores(spec.requests.cpu)), limit: Cpu.millis(toMillicores(spec.limits.cpu)) },
    memory: { request: mebibytes(spec.requests.memory), limit: mebibytes(spec.limits.memory) },
  };
}

/**
 * Ephemeral storage of a container whose root filesystem is read-only: its logs
 * (`CONTAINER_LOG_MEBIBYTES`) plus the `sizeLimit` of every disk-backed emptyDir it writes. The
 * pod's limit is the sum over its containers, so it also bounds the emptyDirs
 * (https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#resource-emphemeralstorage-consumption).
 * Requested as much as the limit: disk is not compressible, and reserving the bound keeps the
 * scheduler from placing pods that would later be evicted for node disk pressure.
 */
export function ephemeralStorageFor(writtenVolumes: readonly Size[]): Size {
  return Size.mebibytes(writtenVolumes.reduce((sum, size) => sum + size.toMebibytes(), CONTAINER_LOG_MEBIBYTES));
}

function mebibytes(quantity: string): Size {
  const bytes = toBytes(quantity);
  if (bytes % 2 ** 20 !== 0) throw new Error(`memory quantity must be a whole number of MiB: ${quantity}`);
  return Size.mebibytes(bytes / 2 ** 20);
}
