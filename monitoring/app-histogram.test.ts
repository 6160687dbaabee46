import { describe, expect, it } from 'vitest';
import { HTTP_DURATION_BUCKETS_SECONDS } from '@expense-tracker/model/app-contract';
import { createMetrics } from '../app/src/metrics.js';

describe('the app histogram the latency objective reads', () => {
  it('registers http_request_duration_seconds with the contract buckets', async () => {
    const metrics = createMetrics({ totalCount: 0, idleCount: 0, waitingCount: 0 } as never);
    metrics.httpDuration.observe({ method: 'GET', route: '/dashboard', status_code: '200' }, 0.1);
    const json = await metrics.registry.getMetricsAsJSON();
    const histogram = json.find((m) => m.name === 'http_request_duration_seconds')!;
    const bounds = histogram.values
      .filter((v) => (v as { metricName?: string }).metricName === 'http_request_duration_seconds_bucket' && v.labels.le !== '+Inf')
      .map((v) => Number(v.labels.le));
    expect(bounds).toEqual([...HTTP_DURATION_BUCKETS_SECONDS]);
  });
});
