/**
 * Conversion of the environment model's requests/limits into cdk8s-plus container resources.
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

/** Converts a `ResourceSpec` to cdk8s-plus `ContainerResources` (CPU in millicores, memory in MiB). */
export function containerResources(spec: ResourceSpec): kplus.ContainerResources {
  return {
    cpu: { request: Cpu.millis(toMillicores(spec.requests.cpu)), limit: Cpu.millis(toMillicores(spec.limits.cpu)) },
    memory: { request: mebibytes(spec.requests.memory), limit: mebibytes(spec.limits.memory) },
  };
}

function mebibytes(quantity: string): Size {
  const bytes = toBytes(quantity);
  if (bytes % 2 ** 20 !== 0) throw new Error(`memory quantity must be a whole number of MiB: ${quantity}`);
  return Size.mebibytes(bytes / 2 ** 20);
}
