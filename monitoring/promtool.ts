/**
 * `promtool` (Debian package `prometheus`) as a library for the tests: `check rules` parses
 * every expression and template of a rule file, `test rules` runs rule unit tests on synthetic
 * series (https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import type { AlertingRule, RuleGroup } from './rules.js';
import { renderRuleFile } from './rules.js';

/** The promtool binary: `$PROMTOOL`, else `promtool` on PATH. */
export const promtoolBinary = (): string => process.env.PROMTOOL ?? 'promtool';

/** Result of one promtool run. */
export interface PromtoolResult {
  readonly ok: boolean;
  /** stdout and stderr together, as promtool prints its findings on both. */
  readonly output: string;
}

async function run(args: readonly string[], cwd: string): Promise<PromtoolResult> {
  const r = await execa(promtoolBinary(), [...args], { cwd, reject: false, all: true });
  return { ok: r.exitCode === 0, output: r.all ?? '' };
}

/** `promtool check rules` on rule files (paths). */
export function checkRuleFiles(files: readonly string[], cwd = process.cwd()): Promise<PromtoolResult> {
  return run(['check', 'rules', ...files], cwd);
}

/** Writes `groups` to a temporary rule file and runs `promtool check rules` on it. */
export async function checkRuleGroups(groups: readonly RuleGroup[]): Promise<PromtoolResult> {
  const dir = await mkdtemp(join(tmpdir(), 'promtool-'));
  try {
    await writeFile(join(dir, 'rules.yml'), renderRuleFile(groups));
    return await checkRuleFiles(['rules.yml'], dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** An expected alert of a promtool `alert_rule_test`. */
export interface ExpectedAlert {
  readonly exp_labels: Readonly<Record<string, string>>;
  readonly exp_annotations?: Readonly<Record<string, string>>;
}

/** One `tests[]` entry of a promtool test file. */
export interface RuleTest {
  /** Name printed by promtool on failure. */
  readonly name: string;
  /** Spacing of the input samples (Prometheus duration). */
  readonly interval: string;
  readonly input_series: ReadonlyArray<{ readonly series: string; readonly values: string }>;
  readonly alert_rule_test?: ReadonlyArray<{ readonly eval_time: string; readonly alertname: string; readonly exp_alerts: readonly ExpectedAlert[] }>;
  readonly promql_expr_test?: ReadonlyArray<{
    readonly expr: string;
    readonly eval_time: string;
    readonly exp_samples: ReadonlyArray<{ readonly labels: string; readonly value: number }>;
  }>;
}

/**
 * Runs `promtool test rules` for `tests` against `groups`, at `evaluationInterval`.
 * @returns promtool's verdict and output (which lists every failed expectation)
 */
export async function testRuleGroups(groups: readonly RuleGroup[], tests: readonly RuleTest[], evaluationInterval = '1m'): Promise<PromtoolResult> {
  const dir = await mkdtemp(join(tmpdir(), 'promtool-'));
  try {
    await writeFile(join(dir, 'rules.yml'), renderRuleFile(groups));
    await writeFile(
      join(dir, 'tests.yml'),
      stringify({ rule_files: ['rules.yml'], evaluation_interval: evaluationInterval, tests }, { lineWidth: 0 }),
    );
    return await run(['test', 'rules', 'tests.yml'], dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The same groups with every alert's annotations removed. promtool compares annotations
 * exactly, and those render `$value`; timing tests assert labels on this copy, whose
 * expressions, `for` and labels are the generated ones unchanged.
 */
export function withoutAnnotations(groups: readonly RuleGroup[]): RuleGroup[] {
  return groups.map((g) => ({
    ...g,
    rules: g.rules.map((r) => ('alert' in r ? ({ ...r, annotations: undefined } as unknown as AlertingRule) : r)),
  }));
}

/**
 * promtool's series notation for a counter: starts at 0, then each `[increment, samples]`
 * segment adds `increment` per sample for `samples` samples (`0 10+10x2` = 0 10 20 30).
 */
export function counterSeries(segments: ReadonlyArray<readonly [increment: number, samples: number]>): string {
  let value = 0;
  const parts = ['0'];
  for (const [increment, samples] of segments) {
    if (samples < 1) continue;
    parts.push(`${fmt(value + increment)}+${fmt(increment)}x${samples - 1}`);
    value += increment * samples;
  }
  return parts.join(' ');
}

/** promtool's series notation for a gauge: `[value, samples]` segments (`1x2 0x1` = 1 1 1 0 0). */
export function gaugeSeries(segments: ReadonlyArray<readonly [value: number, samples: number]>): string {
  return segments
    .filter(([, n]) => n > 0)
    .map(([v, n]) => `${fmt(v)}x${n - 1}`)
    .join(' ');
}

const fmt = (n: number) => String(Number(n.toPrecision(12)));
