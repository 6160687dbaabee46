/**
 * Small helpers for writing PromQL text: selectors with correctly quoted label values,
 * RE2-escaped alternations and Prometheus durations. Expressions stay plain strings so they read
 * like the PromQL an operator would type; `promtool check rules` parses every one in the tests.
 */

/** A label matcher value: equality by default, or `!=`, `=~`, `!~`. */
export type Matcher = string | { readonly ne: string } | { readonly re: string } | { readonly nre: string };

/**
 * Renders `metric{k="v",...}` (label order as given). Values are quoted as PromQL string
 * literals (backslash and double quote escaped).
 */
export function selector(metric: string, matchers: Readonly<Record<string, Matcher | undefined>>): string {
  const parts: string[] = [];
  for (const [key, m] of Object.entries(matchers)) {
    if (m === undefined) continue;
    if (typeof m === 'string') parts.push(`${key}=${quote(m)}`);
    else if ('ne' in m) parts.push(`${key}!=${quote(m.ne)}`);
    else if ('re' in m) parts.push(`${key}=~${quote(m.re)}`);
    else parts.push(`${key}!~${quote(m.nre)}`);
  }
  return `${metric}{${parts.join(',')}}`;
}

/** A PromQL double-quoted string literal. */
export function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** An RE2 alternation matching exactly one of `values` (metacharacters escaped). */
export function alternation(values: readonly string[]): string {
  return values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
}

/**
 * A Prometheus duration (`30s`, `5m`, `1h`, `3d`, `1h30m`) for a whole number of seconds.
 * @throws Error for a negative or fractional number of seconds
 */
export function duration(seconds: number): string {
  if (!Number.isInteger(seconds) || seconds < 0) throw new Error(`duration: expected whole non-negative seconds, got ${seconds}`);
  if (seconds === 0) return '0s';
  const units: Array<[string, number]> = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  let rest = seconds;
  let text = '';
  for (const [unit, size] of units) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text;
}

/** Seconds in a Prometheus duration written by `duration` (`1h30m` → 5400). */
export function durationSeconds(text: string): number {
  const sizes: Record<string, number> = { d: 86_400, h: 3_600, m: 60, s: 1 };
  const parts = [...text.matchAll(/([0-9]+)([dhms])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`not a duration: ${text}`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * sizes[p[2]], 0);
}

/** A number as PromQL text without floating-point noise (`0.005`, not `0.005000000000000004`). */
export function num(value: number): string {
  return String(Number(value.toPrecision(12)));
}
