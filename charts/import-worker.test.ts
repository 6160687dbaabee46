import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { APP_IMPORT_WORKER_COMMAND, APP_UID, IMPORT_CONFIG_KEYS, IMPORT_STAGING_PATH, IMPORT_WORKER_PORT } from '@expense-tracker/model/app-contract';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { renderHaproxyConfig } from './haproxy-config.js';
import { ImportStaging } from './import-staging.js';
import { ImportWorker } from './import-worker.js';
import { importPathAnnotations } from './ingress.js';
import { synthesizeEnvironment, type KubeObject } from './synthesize.js';
import { validateManifests } from './validate.js';

const env = (name: string, set: string[] = []) => loadEnvironment(name, { imageTag: '1.0.0', set });
const objects = (name: string, set: string[] = []) => synthesizeEnvironment(env(name, set));

function find(list: KubeObject[], kind: string, name: string): any {
  const obj = list.find((o) => o.kind === kind && o.metadata.name === name);
  if (!obj) throw new Error(`${kind}/${name} not synthesized`);
  return obj;
}
const has = (list: KubeObject[], kind: string, name: string) => list.some((o) => o.kind === kind && o.metadata.name === name);

describe('imports in the chart', () => {
  it('stages uploads on a claim per environment: ReadWriteOnce on one-node minikube, ReadWriteMany file storage on IKS', () => {
    expect(find(objects('local'), 'PersistentVolumeClaim', 'expense-import-staging').spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'standard',
      volumeMode: 'Filesystem',
      resources: { requests: { storage: '20Gi' } },
    });
    expect(find(objects('ibm'), 'PersistentVolumeClaim', 'expense-import-staging').spec).toMatchObject({
      accessModes: ['ReadWriteMany'],
      storageClassName: 'ibmc-vpc-file-dp2',
      resources: { requests: { storage: '100Gi' } },
    });
  });

  it('runs the worker as its own Deployment with the web pods configuration, Secrets and the staging volume', () => {
    const list = objects('ibm');
    const worker = find(list, 'Deployment', 'expense-import-worker');
    const web = find(list, 'Deployment', 'expense-web');
    expect(worker.spec.replicas).toBe(2);
    expect(worker.spec.template.metadata.labels['app.kubernetes.io/component']).toBe('import-worker');
    const pod = worker.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsUser: APP_UID, fsGroup: APP_UID, fsGroupChangePolicy: 'OnRootMismatch' });
    expect(pod.terminationGracePeriodSeconds).toBe(60);
    const [c] = pod.containers;
    expect(c.command).toEqual([...APP_IMPORT_WORKER_COMMAND]);
    expect(c.ports).toEqual([{ containerPort: IMPORT_WORKER_PORT, name: 'metrics' }]);
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: IMPORT_WORKER_PORT });
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: IMPORT_WORKER_PORT });
    expect(c.envFrom).toEqual(web.spec.template.spec.containers[0].envFrom);
    expect(c.env).toEqual(web.spec.template.spec.containers[0].env);
    expect(c.volumeMounts).toContainEqual({ mountPath: IMPORT_STAGING_PATH, name: 'import-staging' });
    expect(pod.volumes).toContainEqual({ name: 'import-staging', persistentVolumeClaim: { claimName: 'expense-import-staging', readOnly: false } });
    // The web container writes uploads there; the migrate init container does not need it.
    expect(web.spec.template.spec.containers[0].volumeMounts).toContainEqual({ mountPath: IMPORT_STAGING_PATH, name: 'import-staging' });
    expect(web.spec.template.spec.initContainers[0].volumeMounts).not.toContainEqual(expect.objectContaining({ name: 'import-staging' }));
    expect(web.spec.template.spec.securityContext.fsGroup).toBe(APP_UID);
    // Two workers: one may be evicted at a time.
    expect(find(list, 'PodDisruptionBudget', 'expense-import-worker').spec).toMatchObject({ maxUnavailable: 1 });
    expect(has(objects('local'), 'PodDisruptionBudget', 'expense-import-worker')).toBe(false);
  });

  it('sets every IMPORT_* key from the model, and lets the worker reach PostgreSQL and Redis', () => {
    const list = objects('local');
    const data = find(list, 'ConfigMap', 'expense-config').data;
    expect(Object.keys(data).filter((k) => k.startsWith('IMPORT_')).sort()).toEqual([...IMPORT_CONFIG_KEYS].sort());
    expect(data).toMatchObject({
      IMPORT_STAGING_DIR: IMPORT_STAGING_PATH,
      IMPORT_MAX_BYTES: '16Gi',
      IMPORT_INLINE_MAX_BYTES: '1Mi',
      IMPORT_STAGING_RESERVE_BYTES: '1Gi',
      IMPORT_WORKER_PORT: String(IMPORT_WORKER_PORT),
      IMPORT_LEASE_SECONDS: '60',
    });
    const worker = find(list, 'Deployment', 'expense-import-worker').spec.selector.matchLabels;
    for (const target of ['postgres', 'redis']) {
      expect(find(list, 'NetworkPolicy', `allow-import-worker-to-${target}`).spec.ingress[0].from).toEqual([{ podSelector: { matchLabels: worker } }]);
    }
  });

  it('gives the import path its own Ingress: body limit, no request buffering, upload timeouts; other paths keep the defaults', () => {
    const list = objects('local');
    const ing = find(list, 'Ingress', 'expense-imports');
    expect(ing.metadata.annotations).toEqual({
      'nginx.ingress.kubernetes.io/proxy-body-size': '16384m',
      'nginx.ingress.kubernetes.io/proxy-request-buffering': 'off',
      'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600',
      'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
    });
    expect(ing.spec.rules).toEqual([
      { host: 'expense.local', http: { paths: [{ path: '/api/imports', pathType: 'Prefix', backend: { service: { name: 'haproxy', port: { number: 80 } } } }] } },
    ]);
    expect(find(list, 'Ingress', 'expense-web').metadata.annotations).toBeUndefined();
    expect(importPathAnnotations(1, 60)['nginx.ingress.kubernetes.io/proxy-body-size']).toBe('1m');
    expect(() => importPathAnnotations(0, 60)).toThrow(/maxBytes/);
  });

  it('gives the import path its own HAProxy backend: 413 above imports.maxBytes and a long server timeout, on that path only', () => {
    const cfg = renderHaproxyConfig(env('local', ['imports.maxBytes=2Gi', 'imports.uploadTimeoutSeconds=1800']), { kind: 'kubernetes' });
    const frontend = cfg.slice(cfg.indexOf('\nfrontend http-in'), cfg.indexOf('\nbackend '));
    // The import rules come before the /api rule, or /api would take the import path.
    expect(frontend.indexOf('use_backend imports')).toBeGreaterThan(0);
    expect(frontend.indexOf('use_backend imports')).toBeLessThan(frontend.indexOf('use_backend api'));
    expect(frontend).toMatch(/acl is_imports path \/api\/imports\n\s+acl is_imports path_beg \/api\/imports\/\n/);
    expect(frontend).toContain(`http-request deny deny_status 413 if is_imports { req.fhdr(content-length),add(0) gt ${2 * 2 ** 30} }`);
    const imports = cfg.slice(cfg.indexOf('\nbackend imports'), cfg.indexOf('\nbackend api'));
    expect(imports).toContain('timeout server 1800s');
    const api = cfg.slice(cfg.indexOf('\nbackend api'));
    expect(api).not.toMatch(/timeout server/);
  });

  it('imports.enabled=false leaves out the claim, the worker, the IMPORT_* keys, the Ingress and the HAProxy backend', () => {
    const list = objects('local', ['imports.enabled=false']);
    for (const [kind, name] of [
      ['PersistentVolumeClaim', 'expense-import-staging'],
      ['Deployment', 'expense-import-worker'],
      ['Ingress', 'expense-imports'],
      ['NetworkPolicy', 'allow-import-worker-to-postgres'],
    ]) {
      expect(has(list, kind!, name!)).toBe(false);
    }
    expect(Object.keys(find(list, 'ConfigMap', 'expense-config').data).some((k) => k.startsWith('IMPORT_'))).toBe(false);
    expect(renderHaproxyConfig(env('local', ['imports.enabled=false']), { kind: 'kubernetes' })).not.toContain('imports');
    expect(validateManifests(list)).toEqual([]);
  });

  it('refuses a staging volume that cannot hold the largest file plus the reserve, naming the field', () => {
    expect(() => env('local', ['imports.staging.storage=8Gi'])).toThrow(/imports\.staging\.storage: must hold imports\.maxBytes \(16Gi\) plus imports\.staging\.reserve \(1Gi\)/);
    expect(() => env('local', ['imports.staging.accessMode=ReadWriteOncePod'])).toThrow(/imports\.staging\.accessMode/);
  });

  it('constructs: safe defaults, props validated with the field named', () => {
    const chart = Testing.chart();
    const staging = new ImportStaging(chart, 'Staging');
    new ImportWorker(chart, 'Worker', { staging });
    const list = Testing.synth(chart) as KubeObject[];
    expect(list.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['Deployment/expense-import-worker', 'PersistentVolumeClaim/expense-import-staging']);
    expect(validateManifests(list, { externalConfigMaps: { 'expense-config': [] } })).toEqual([]);
    expect(() => new ImportWorker(Testing.chart(), 'W', { staging, replicas: 21 })).toThrow(/^ImportWorker: replicas: must be at most 20$/);
    expect(() => new ImportWorker(Testing.chart(), 'W', { staging, terminationGracePeriodSeconds: 1 })).toThrow(/^ImportWorker: terminationGracePeriodSeconds:/);
    expect(() => new ImportStaging(Testing.chart(), 'S', { storage: 'big' })).toThrow(/^ImportStaging: storage: must be a storage quantity/);
  });
});
