/**
 * Kubernetes resource quantities as the environment model writes them
 * (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/), restricted to
 * the forms this project uses, and their conversion to numbers.
 */

/** CPU in millicores (`250m`) or whole/fractional cores with at most 3 decimals (`1`, `0.5`). */
export const CPU_QUANTITY = /^([1-9][0-9]*m|[0-9]+(\.[0-9]{1,3})?)$/;
/** Memory in bytes with a binary suffix: `128Mi`, `1Gi` (`Ki` only in whole MiB, e.g. `1024Ki`). */
export const MEMORY_QUANTITY = /^[1-9][0-9]*(Ki|Mi|Gi)$/;
/** Storage size in bytes with a binary suffix, e.g. `1Gi`, `20Gi`. */
export const STORAGE_QUANTITY = /^[1-9][0-9]*(Mi|Gi|Ti)$/;

/** Converts a CPU quantity (`250m`, `1`, `0.5`) to millicores. */
export function toMillicores(cpu: string): number {
  return cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Math.round(Number(cpu) * 1000);
}

/**
 * Converts a binary-suffixed quantity (`128Mi`, `1Gi`) to bytes.
 * @throws Error for anything else
 */
export function toBytes(quantity: string): number {
  const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  const m = /^([0-9]+)(Ki|Mi|Gi|Ti)$/.exec(quantity);
  if (!m) throw new Error(`not a binary quantity: ${quantity}`);
  return Number(m[1]) * units[m[2]];
}
