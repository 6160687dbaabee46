import { describe, expect, it } from 'vitest';
import { createMetrics } from '../app/src/metrics.js';
import { APP_DURATION_BUCKETS, MONITORING_DEFAULTS, monitoringSchema } from './settings.js';

function issues(raw: unknown): string[] {
  const r = monitoringSchema.safeParse(raw);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const ibm = () => structuredClone(MONITORING_DEFAULTS.ibm) as any;

describe('monitoring settings', () => {
  it('monitoring is on for ibm and off for local, with the same objectives', () => {
    const local = monitoringSchema.parse(MONITORING_DEFAULTS.local);
    const prod = monitoringSchema.parse(MONITORING_DEFAULTS.ibm);
    expect(local.enabled).toBe(false);
    expect(prod.enabled).toBe(true);
    expect(prod.slo).toEqual(local.slo);
    expect(prod.slo.availability.objectivePercent).toBe(99.5);
  });

  it('names the field of every invalid value', () => {
    const bad = ibm();
    bad.slo.availability.objectivePercent = 100;
    bad.slo.latency.thresholdSeconds = 0.3;
    bad.slo.latency.routes = ['dashboard'];
    bad.alerts.postgresDownForSeconds = 1.5;
    bad.prometheus.selectorLabels = { 'bad key!': 'x' };
    bad.runbookBaseUrl = 'https://example.com/runbooks.md#x';
    bad.extra = true;
    const found = issues(bad);
    expect(found).toEqual(
      expect.arrayContaining([
        'slo.availability.objectivePercent: must be at most 99.99',
        'slo.latency.routes.0: must be a route pattern such as "/dashboard"',
        'alerts.postgresDownForSeconds: must be a whole number of seconds',
        'runbookBaseUrl: must not contain a #fragment',
        ': Unrecognized key: "extra"',
      ]),
    );
    expect(found.some((f) => f.startsWith('prometheus.selectorLabels'))).toBe(true);
  });

  it('accepts a latency threshold only at a histogram bucket boundary', () => {
    const bad = ibm();
    bad.slo.latency.thresholdSeconds = 0.3;
    expect(issues(bad)).toEqual([expect.stringMatching(/^slo\.latency\.thresholdSeconds: must be a bucket boundary .*0\.25, 0\.5/)]);
    bad.slo.latency.thresholdSeconds = 1;
    expect(issues(bad)).toEqual([]);
  });

  it('knows the buckets the app really registers for http_request_duration_seconds', async () => {
    const metrics = createMetrics({ totalCount: 0, idleCount: 0, waitingCount: 0 } as never);
    metrics.httpDuration.observe({ method: 'GET', route: '/dashboard', status_code: '200' }, 0.1);
    const json = await metrics.registry.getMetricsAsJSON();
    const histogram = json.find((m) => m.name === 'http_request_duration_seconds')!;
    const bounds = histogram.values
      .filter((v) => (v as { metricName?: string }).metricName === 'http_request_duration_seconds_bucket' && v.labels.le !== '+Inf')
      .map((v) => Number(v.labels.le));
    expect(bounds).toEqual([...APP_DURATION_BUCKETS]);
  });
});
