import { describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { synthesize, type KubeObject } from '../charts/synthesize.js';
import { podReferences, pulumiInputs, SKIP_AWAIT_ANNOTATION } from './expense-tracker-deployment.js';

const pod = (spec: Record<string, unknown>) => ({ metadata: { labels: { app: 'x' } }, spec });

describe('podReferences (what a workload waits for)', () => {
  it('finds ConfigMaps and Secrets in volumes, projected volumes, env, envFrom and image pull Secrets, init containers included', () => {
    const obj: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x' },
      spec: {
        template: pod({
          volumes: [
            { name: 'a', configMap: { name: 'cm-volume' } },
            { name: 'b', secret: { secretName: 'secret-volume' } },
            { name: 'c', projected: { sources: [{ configMap: { name: 'cm-projected' } }, { secret: { name: 'secret-projected' } }, { downwardAPI: {} }] } },
            { name: 'd', emptyDir: {} },
          ],
          initContainers: [{ name: 'i', envFrom: [{ secretRef: { name: 'secret-init' } }] }],
          containers: [
            {
              name: 'c',
              env: [
                { name: 'A', valueFrom: { configMapKeyRef: { name: 'cm-key', key: 'a' } } },
                { name: 'B', valueFrom: { secretKeyRef: { name: 'secret-key', key: 'b' } } },
                { name: 'C', value: 'plain' },
              ],
              envFrom: [{ configMapRef: { name: 'cm-envfrom' } }],
            },
          ],
          imagePullSecrets: [{ name: 'pull-secret' }],
        }),
      },
    };
    expect(podReferences(obj)).toEqual({
      configMaps: new Set(['cm-volume', 'cm-projected', 'cm-key', 'cm-envfrom']),
      secrets: new Set(['secret-volume', 'secret-projected', 'secret-init', 'secret-key', 'pull-secret']),
    });
  });

  it('reads the pod template where each kind keeps it; other kinds reference nothing', () => {
    const spec = { containers: [{ name: 'c', envFrom: [{ configMapRef: { name: 'cm' } }] }] };
    const expected = { configMaps: new Set(['cm']), secrets: new Set() };
    expect(podReferences({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'x' }, spec: { jobTemplate: { spec: { template: pod(spec) } } } })).toEqual(expected);
    expect(podReferences({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec })).toEqual(expected);
    expect(podReferences({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec })).toEqual({ configMaps: new Set(), secrets: new Set() });
  });

  it('the local chart: each workload reads only its own Secrets and ConfigMaps', () => {
    const refs = Object.fromEntries(
      synthesize(loadEnvironment('local', { imageTag: '1.0.0' }))
        .objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
        .map((o) => [o.metadata.name, podReferences(o)]),
    );
    expect(refs.redis.secrets).toEqual(new Set(['redis-credentials']));
    expect(refs.redis.configMaps.size).toBe(0);
    expect(refs.haproxy.secrets.size).toBe(0);
    expect(refs.haproxy.configMaps).toEqual(new Set(['haproxy-config']));
    expect(refs['expense-web'].configMaps).toEqual(new Set(['expense-config']));
    expect(refs['expense-web'].secrets).toEqual(new Set(['postgres-credentials', 'redis-credentials', 'expense-app']));
  });
});

describe('pulumiInputs', () => {
  it('adds skipAwait to ClusterIP, headless and NodePort Services only, leaving the chart object untouched', () => {
    const svc = (type?: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', annotations: { keep: 'me' } }, spec: { ...(type ? { type } : {}), ports: [] } });
    for (const type of [undefined, 'ClusterIP', 'NodePort']) {
      const obj = svc(type);
      const inputs = pulumiInputs(obj);
      expect(inputs.metadata.annotations).toEqual({ keep: 'me', [SKIP_AWAIT_ANNOTATION]: 'true' });
      expect(obj.metadata.annotations).toEqual({ keep: 'me' });
    }
    const lb = svc('LoadBalancer');
    expect(pulumiInputs(lb)).toBe(lb);
    const deployment: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } };
    expect(pulumiInputs(deployment)).toBe(deployment);
  });
});
