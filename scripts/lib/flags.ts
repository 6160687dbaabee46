/**
 * Command-line flag values of the user commands (and the benchmarks, which parse like them).
 */

/**
 * An integer flag `--<name>`: `fallback` when absent.
 * @throws Error naming the flag when the value is not a whole number from `min` to `max`
 */
export function intFlag(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}
