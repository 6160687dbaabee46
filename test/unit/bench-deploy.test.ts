import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES } from '@expense-tracker/model/environment';
import { formatDeploySummary, formatSeconds, medianRatio, parseDeployArgs, UsageError } from '../../bench/lib/deploy-options.js';

describe('bench:deploy flags', () => {
  it('defaults to every environment, one run, text output', () => {
    expect(parseDeployArgs([])).toEqual({ envs: [...ENVIRONMENT_NAMES], runs: 1, json: false });
  });

  it('reads --env (repeatable, deduplicated), --runs and --json', () => {
    expect(parseDeployArgs(['--env', 'ibm', '--env', 'ibm', '--runs', '3', '--json'])).toEqual({ envs: ['ibm'], runs: 3, json: true });
    expect(parseDeployArgs(['--runs=2', '--env=local']).runs).toBe(2);
  });

  it.each([
    [['--runs', '0'], /^--runs: must be an integer from 1 to 10, got "0"$/],
    [['--runs', '11'], /^--runs: .*got "11"/],
    [['--runs', '1.5'], /^--runs: .*got "1.5"/],
    [['--runs', 'two'], /^--runs: .*got "two"/],
    [['--runs', ''], /^--runs: .*got ""/],
    [['--env', 'minikube'], /^--env: unknown environment "minikube" \(one of local, ibm\)$/],
    [['--run', '3'], /--run/],
    [['--json=yes'], /--json/],
    [['local'], /local/],
  ])('rejects %j with an error naming the flag', (argv, message) => {
    expect(() => parseDeployArgs(argv)).toThrow(UsageError);
    expect(() => parseDeployArgs(argv)).toThrow(message);
  });
});

describe('bench:deploy figures', () => {
  it('prints min / median / max of both sides and the ratio of the medians', () => {
    expect(formatSeconds([30, 10, 20])).toBe('10.0 / 20.0 / 30.0 s');
    const sides = { env: 'local', kubectl: [100, 120], pulumi: [150, 210] };
    expect(medianRatio(sides)).toBeCloseTo(180 / 110);
    expect(formatDeploySummary(sides)).toEqual([
      'local (2 run(s) each; empty cluster -> logged-in dashboard through the Ingress; min / median / max)',
      '  kubectl apply --server-side  100.0 / 110.0 / 120.0 s',
      '  pulumi up (ci stack)         150.0 / 180.0 / 210.0 s',
      '  ratio pulumi/kubectl (medians): 1.64',
    ]);
  });
});
