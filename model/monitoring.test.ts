import { describe, expect, it } from 'vitest';
import { HTTP_DURATION_BUCKETS_SECONDS } from './app-contract.js';
import { ConfigError, loadEnvironment } from './environment.js';

function issues(set: string[]): string[] {
  try {
    loadEnvironment('ibm', { imageTag: '1.0.0', set });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).issues];
  }
  return [];
}

describe('monitoring settings', () => {
  it('monitoring is on for ibm and off for local, with the same objectives everywhere; --set switches it', () => {
    const local = loadEnvironment('local', { imageTag: '1.0.0' }).monitoring;
    const ibm = loadEnvironment('ibm', { imageTag: '1.0.0' }).monitoring;
    expect(local.enabled).toBe(false);
    expect(ibm.enabled).toBe(true);
    expect(loadEnvironment('local', { imageTag: '1.0.0', set: ['monitoring.enabled=true'] }).monitoring.enabled).toBe(true);
    expect(loadEnvironment('ibm', { imageTag: '1.0.0', set: ['monitoring.enabled=false'] }).monitoring.enabled).toBe(false);
    expect(ibm.slo).toEqual(local.slo);
    expect(ibm.slo.availability.objectivePercent).toBe(99.5);
    expect(ibm.prometheus.selectorLabels).toEqual({ release: 'kube-prometheus-stack' });
  });

  it('names the field of every invalid value', () => {
    expect(
      issues([
        'monitoring.slo.availability.objectivePercent=100',
        'monitoring.alerts.postgresDownForSeconds=1.5',
        'monitoring.runbookBaseUrl=https://example.com/runbooks.md#x',
        'monitoring.prometheus.namespace=Monitoring',
        'monitoring.slo.periodDays=3',
      ]),
    ).toEqual([
      'monitoring.prometheus.namespace: must be a DNS label',
      'monitoring.runbookBaseUrl: must not contain a #fragment',
      'monitoring.slo.periodDays: must be at least 7',
      'monitoring.slo.availability.objectivePercent: must be at most 99.99',
      'monitoring.alerts.postgresDownForSeconds: must be a whole number of seconds',
    ]);
    expect(issues(['monitoring.prometheus.selectorLabels.team=x'])).toEqual(['monitoring.prometheus.selectorLabels.team: unknown field']);
    expect(issues(['monitoring.scrapeEverything=true'])).toEqual(['monitoring.scrapeEverything: unknown field']);
  });

  it('accepts a latency threshold only at a bucket of the app histogram', () => {
    expect(issues(['monitoring.slo.latency.thresholdSeconds=0.3'])).toEqual([
      `monitoring.slo.latency.thresholdSeconds: must be a bucket boundary of http_request_duration_seconds (${HTTP_DURATION_BUCKETS_SECONDS.join(', ')})`,
    ]);
    expect(loadEnvironment('ibm', { imageTag: '1.0.0', set: ['monitoring.slo.latency.thresholdSeconds=1'] }).monitoring.slo.latency.thresholdSeconds).toBe(1);
  });
});
