/**
 * Measuring helpers shared by the performance benchmarks (bench/synth.ts, bench/pulumi-deploy.ts,
 * bench/haproxy.ts): child processes timed with their CPU time and peak memory, min/median/max
 * summaries, and the "ours vs baseline" ratio line each benchmark prints.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type Options } from 'execa';

/** GNU time (Debian package `time`): CPU time and peak RSS of a child, which Node cannot read. */
const GNU_TIME = '/usr/bin/time';

/** One run of a command. */
export interface Sample {
  /** Wall time from spawn to exit, milliseconds. */
  readonly wallMs: number;
  /** User + system CPU time of the process and its children, milliseconds (10 ms resolution). */
  readonly cpuMs: number;
  /** Largest resident set of the process or any one child, bytes. */
  readonly maxRssBytes: number;
}

/** min, median and max of a list of numbers. */
export interface Summary {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new Error('summarize: no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { min: sorted[0], median, max: sorted[sorted.length - 1] };
}

/** Throws a clear error when GNU time is missing (it is how CPU time and peak memory are read). */
export function requireGnuTime(): void {
  if (!existsSync(GNU_TIME)) throw new Error(`${GNU_TIME} not found: install GNU time (Debian: apt-get install time)`);
}

/**
 * Runs `command args` once under GNU time; throws (with its stderr) when it exits non-zero.
 * Output is discarded unless `keepOutput`.
 */
export async function timeCommand(command: string, args: readonly string[], options: Options = {}): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-time-'));
  const report = join(dir, 'rusage');
  try {
    const started = performance.now();
    const result = await execa(GNU_TIME, ['-f', '%U %S %M', '-o', report, command, ...args], { reject: false, ...options });
    const wallMs = performance.now() - started;
    if (result.exitCode !== 0) {
      const stderr = String(result.stderr ?? '').trim().split('\n').slice(-10).join('\n');
      throw new Error(`${command} ${args.join(' ')} exited ${result.exitCode}${stderr ? `:\n${stderr}` : ''}`);
    }
    const last = readFileSync(report, 'utf8').trim().split('\n').pop() ?? '';
    const [user, system, rssKiB] = last.split(' ').map(Number);
    if (![user, system, rssKiB].every(Number.isFinite)) throw new Error(`unexpected GNU time output: ${last}`);
    return { wallMs, cpuMs: (user + system) * 1000, maxRssBytes: rssKiB * 1024 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`);
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** `min / median / max` of the wall times, then median CPU and largest peak RSS. */
export function describeSamples(samples: readonly Sample[]): string {
  const wall = summarize(samples.map((s) => s.wallMs));
  const cpu = summarize(samples.map((s) => s.cpuMs));
  const rss = summarize(samples.map((s) => s.maxRssBytes));
  return `wall ${ms(wall.min)} / ${ms(wall.median)} / ${ms(wall.max)}   cpu ${ms(cpu.median)}   max RSS ${mib(rss.max)}`;
}

/** A goal on the ratio ours/baseline of the median wall times. */
export interface RatioGoal {
  /** Largest ratio that meets the goal. */
  readonly atMost: number;
}

export interface Comparison {
  readonly label: string;
  readonly ratio: number;
  readonly cpuRatio: number;
  readonly met: boolean | undefined;
}

/**
 * Prints both sides (min/median/max) and the ratio of medians, wall and CPU, with the goal.
 * The wall ratio is what the goal is about; the CPU ratio is printed because it moves much
 * less with the load other jobs put on a shared machine.
 */
export function compare(label: string, ours: { name: string; samples: readonly Sample[] }, baseline: { name: string; samples: readonly Sample[] }, goal?: RatioGoal): Comparison {
  const wall = summarize(ours.samples.map((s) => s.wallMs)).median / summarize(baseline.samples.map((s) => s.wallMs)).median;
  const cpu = summarize(ours.samples.map((s) => s.cpuMs)).median / summarize(baseline.samples.map((s) => s.cpuMs)).median;
  const width = Math.max(ours.name.length, baseline.name.length);
  console.log(`\n${label} (${ours.samples.length} paired runs; wall min / median / max)`);
  console.log(`  ${ours.name.padEnd(width)}  ${describeSamples(ours.samples)}`);
  console.log(`  ${baseline.name.padEnd(width)}  ${describeSamples(baseline.samples)}`);
  const met = goal ? wall <= goal.atMost : undefined;
  const verdict = goal ? `   goal ≤ ${goal.atMost}: ${met ? 'met' : 'NOT met'}` : '';
  console.log(`  ratio (medians): wall ${wall.toFixed(2)}, cpu ${cpu.toFixed(2)}${verdict}`);
  return { label, ratio: wall, cpuRatio: cpu, met };
}

/** The 1-minute load average, to print next to figures from a shared machine. */
export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
}
