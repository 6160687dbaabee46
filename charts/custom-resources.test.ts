import { describe, expect, it } from 'vitest';
import { customResourceModels } from './custom-resources.js';
import type { KubeObject } from './synthesize.js';
import { validateManifests } from './validate.js';

const serviceMonitor = (spec: unknown): KubeObject => ({
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'ServiceMonitor',
  metadata: { name: 'haproxy', namespace: 'expense-tracker' },
  spec,
});

describe('custom resource schemas (Prometheus Operator CRDs)', () => {
  it('has a model for every imported kind', () => {
    expect(Object.keys(customResourceModels()).sort()).toEqual([
      'monitoring.coreos.com/v1/PodMonitor',
      'monitoring.coreos.com/v1/Probe',
      'monitoring.coreos.com/v1/PrometheusRule',
      'monitoring.coreos.com/v1/ServiceMonitor',
    ]);
  });

  it('accepts a valid ServiceMonitor', () => {
    const ok = serviceMonitor({ selector: { matchLabels: { app: 'x' } }, endpoints: [{ port: 'stats', path: '/metrics', interval: '30s' }] });
    expect(validateManifests([ok]).filter((f) => f.message.startsWith('OpenAPI'))).toEqual([]);
  });

  it('reports schema violations with the object and field', () => {
    const bad = serviceMonitor({ endpoints: [{ port: 8404, interval: 'often', scheme: 'gopher' }] });
    const messages = validateManifests([bad]).map((f) => `${f.object}: ${f.field}: ${f.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        "ServiceMonitor/haproxy: spec: OpenAPI: must have required property 'selector'",
        'ServiceMonitor/haproxy: spec.endpoints[0].port: OpenAPI: must be string',
        expect.stringMatching(/^ServiceMonitor\/haproxy: spec\.endpoints\[0\]\.interval: OpenAPI: must match pattern/),
        expect.stringMatching(/^ServiceMonitor\/haproxy: spec\.endpoints\[0\]\.scheme: OpenAPI: must be equal to one of the allowed values/),
      ]),
    );
  });

  it('reads the CRDs\' Go regular expressions, case-insensitive groups included', () => {
    const rule = (strategy: string): KubeObject => ({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'r' },
      spec: { groups: [{ name: 'g', partial_response_strategy: strategy, rules: [{ record: 'a:b', expr: 'up' }] }] },
    });
    expect(validateManifests([rule('WARN')])).toEqual([]);
    expect(validateManifests([rule('bogus')]).map((f) => f.field)).toEqual(['spec.groups[0].partial_response_strategy']);
  });
});
