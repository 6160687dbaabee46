import { describe, expect, it } from 'vitest';
import { metricNames, withoutGrafanaVariables } from './promql-names.js';

describe('metricNames', () => {
  it('lists the metrics of every selector', () => {
    expect(metricNames('sum by (a) (rate(foo_total{job="x"}[$__rate_interval])) / on (a) bar{b=~"c"} + histogram_quantile(0.9, x_bucket) + vector(1) + slo:sli_error:ratio_rate5m')).toEqual([
      'bar',
      'foo_total',
      'slo:sli_error:ratio_rate5m',
      'x_bucket',
    ]);
  });

  it('replaces Grafana interval variables', () => {
    expect(withoutGrafanaVariables('increase(x[$__range]) + rate(y[$__rate_interval])')).toBe('increase(x[1d]) + rate(y[5m])');
  });

  it('rejects what does not parse or has no metric name', () => {
    expect(() => metricNames('sum(rate(x[5m])')).toThrow(/PromQL syntax error/);
    expect(() => metricNames('{job="x"}')).toThrow(/without a metric name/);
  });
});
