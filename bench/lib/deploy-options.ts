/**
 * Command line and figures of bench/deploy.ts, kept free of cluster code so they are unit-tested
 * (test/unit/bench-deploy.test.ts).
 */
import { parseArgs } from 'node:util';
import { ENVIRONMENT_NAMES } from '@expense-tracker/model/environment';
import { summarize } from './measure.js';

export const DEPLOY_USAGE = 'usage: npm run bench:deploy -- [--env <local|ibm>]... [--runs <1-10>] [--json]';

/** Largest `--runs`: each run starts two real-node clusters per environment and deploys the app twice. */
export const MAX_RUNS = 10;

/** What bench/deploy.ts was asked to do. */
export interface DeployOptions {
  /** Environments to deploy, in order. @default every environment (ENVIRONMENT_NAMES) */
  readonly envs: readonly string[];
  /** Measurements per environment and tool. @default 1 */
  readonly runs: number;
  /** One JSON document on stdout instead of the text report. @default false */
  readonly json: boolean;
}

/** A bad command line; the message names the flag. */
export class UsageError extends Error {}

/**
 * Parses `argv` (without node and the script).
 * @throws UsageError naming the flag: an unknown flag, `--env` not an environment name,
 * `--runs` not an integer from 1 to MAX_RUNS.
 */
export function parseDeployArgs(argv: readonly string[]): DeployOptions {
  let values: { env?: string[]; runs?: string; json?: boolean };
  try {
    ({ values } = parseArgs({ args: [...argv], options: { env: { type: 'string', multiple: true }, runs: { type: 'string' }, json: { type: 'boolean' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const envs = values.env ?? [...ENVIRONMENT_NAMES];
  for (const env of envs) {
    if (!(ENVIRONMENT_NAMES as readonly string[]).includes(env)) throw new UsageError(`--env: unknown environment "${env}" (one of ${ENVIRONMENT_NAMES.join(', ')})`);
  }
  const raw = values.runs ?? '1';
  const runs = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(runs) || runs < 1 || runs > MAX_RUNS) throw new UsageError(`--runs: must be an integer from 1 to ${MAX_RUNS}, got "${raw}"`);
  return { envs: [...new Set(envs)], runs, json: values.json ?? false };
}

/** `min / median / max s` of seconds. */
export function formatSeconds(seconds: readonly number[]): string {
  const s = summarize(seconds);
  return `${s.min.toFixed(1)} / ${s.median.toFixed(1)} / ${s.max.toFixed(1)} s`;
}

/** One environment's result: seconds per run of each side. */
export interface DeploySides {
  readonly env: string;
  readonly kubectl: readonly number[];
  readonly pulumi: readonly number[];
}

/** pulumi/kubectl of the medians. */
export function medianRatio(sides: DeploySides): number {
  return summarize(sides.pulumi).median / summarize(sides.kubectl).median;
}

/** The summary block of one environment: both sides' min / median / max and the ratio of the medians. */
export function formatDeploySummary(sides: DeploySides): string[] {
  return [
    `${sides.env} (${sides.kubectl.length} run(s) each; empty cluster -> logged-in dashboard through the Ingress; min / median / max)`,
    `  kubectl apply --server-side  ${formatSeconds(sides.kubectl)}`,
    `  pulumi up (ci stack)         ${formatSeconds(sides.pulumi)}`,
    `  ratio pulumi/kubectl (medians): ${medianRatio(sides).toFixed(2)}`,
  ];
}
