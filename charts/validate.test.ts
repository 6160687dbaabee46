import { describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { synthesizeEnvironment, type KubeObject } from './synthesize.js';
import { type Finding, validateManifests } from './validate.js';

/** A fresh copy of the local environment's objects, with one mutation applied. */
function mutated(kind: string, name: string, mutate: (obj: any) => void): KubeObject[] {
  const objects = structuredClone(synthesizeEnvironment(loadEnvironment('local', { imageTag: '1.0.0' })));
  const obj = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!obj) throw new Error(`${kind}/${name} missing`);
  mutate(obj);
  return objects;
}

const web = (o: any) => o.spec.template.spec.containers[0];
const secretVolume = (o: any, secret: string) => o.spec.template.spec.volumes.find((v: any) => v.secret?.secretName === secret);

function expectFinding(findings: Finding[], object: string, field: string, message: RegExp): void {
  expect(findings, JSON.stringify(findings, null, 1)).toContainEqual(
    expect.objectContaining({ object, field, message: expect.stringMatching(message) }),
  );
}

describe('validateManifests', () => {
  it.each<[string, string, (o: any) => void, string, string, RegExp]>([
    ['OpenAPI type error', 'Deployment/expense-web', (o) => (o.spec.replicas = 'two'), 'Deployment/expense-web', 'spec.replicas', /OpenAPI: must be integer/],
    ['missing seccomp', 'Deployment/expense-web', (o) => delete o.spec.template.spec.securityContext.seccompProfile, 'Deployment/expense-web', 'spec.template.spec.securityContext.seccompProfile.type', /RuntimeDefault/],
    ['capabilities kept', 'Deployment/expense-web', (o) => delete web(o).securityContext.capabilities, 'Deployment/expense-web', 'spec.template.spec.containers[0].securityContext.capabilities.drop', /ALL/],
    ['privilege escalation', 'Deployment/expense-web', (o) => (web(o).securityContext.allowPrivilegeEscalation = true), 'Deployment/expense-web', 'spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation', /false/],
    ['root user', 'Deployment/expense-web', (o) => { web(o).securityContext.runAsUser = 0; }, 'Deployment/expense-web', 'spec.template.spec.containers[0].securityContext.runAsUser', /non-zero/],
    ['writable root', 'Deployment/expense-web', (o) => (web(o).securityContext.readOnlyRootFilesystem = false), 'Deployment/expense-web', 'spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem', /true/],
    ['no limits', 'Deployment/expense-web', (o) => delete web(o).resources.limits, 'Deployment/expense-web', 'spec.template.spec.containers[0].resources.limits.cpu', /required/],
    ['no readiness', 'Deployment/expense-web', (o) => delete web(o).readinessProbe, 'Deployment/expense-web', 'spec.template.spec.containers[0].readinessProbe', /required/],
    ['no liveness', 'Deployment/redis', (o) => delete web(o).livenessProbe, 'Deployment/redis', 'spec.template.spec.containers[0].livenessProbe', /required/],
    ['latest image', 'Deployment/expense-web', (o) => (web(o).image = 'localhost:5000/expense-tracker:latest'), 'Deployment/expense-web', 'spec.template.spec.containers[0].image', /latest/],
    ['untagged image', 'StatefulSet/postgres', (o) => (web(o).image = 'localhost:5000/postgres'), 'StatefulSet/postgres', 'spec.template.spec.containers[0].image', /untagged/],
    ['selector mismatch', 'Deployment/expense-web', (o) => (o.spec.template.metadata.labels['app.kubernetes.io/component'] = 'other'), 'Deployment/expense-web', 'spec.selector.matchLabels', /does not match/],
    ['unknown Secret', 'Deployment/expense-web', (o) => (secretVolume(o, 'postgres-credentials').secret.secretName = 'nope'), 'Deployment/expense-web', 'spec.template.spec.volumes[secret-postgres-credentials].secret', /Secret "nope"/],
    ['unknown Secret key', 'Deployment/expense-web', (o) => (secretVolume(o, 'postgres-credentials').secret.items[0].key = 'nope'), 'Deployment/expense-web', 'spec.template.spec.volumes[secret-postgres-credentials].secret.items[0]', /no key "nope"/],
    ['unknown Secret in env', 'Deployment/expense-web', (o) => (web(o).env[0] = { name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }), 'Deployment/expense-web', 'spec.template.spec.containers[0].env[0](X).valueFrom.secretKeyRef', /Secret "nope"/],
    ['unknown ConfigMap', 'Deployment/expense-web', (o) => (web(o).envFrom[0].configMapRef.name = 'nope'), 'Deployment/expense-web', 'spec.template.spec.containers[0].envFrom[0].configMapRef', /ConfigMap "nope"/],
    ['undeclared target port', 'Service/expense-web', (o) => (o.spec.ports[0].targetPort = 'debug'), 'Service/expense-web', 'spec.ports[0].targetPort', /not a declared container port/],
    ['Service selects nothing', 'Service/redis', (o) => (o.spec.selector = { app: 'nothing' }), 'Service/redis', 'spec.selector', /selects no pod/],
    ['non-headless serviceName', 'Service/postgres-headless', (o) => delete o.spec.clusterIP, 'StatefulSet/postgres', 'spec.serviceName', /not headless/],
    ['missing serviceName target', 'StatefulSet/postgres', (o) => (o.spec.serviceName = 'ghost'), 'StatefulSet/postgres', 'spec.serviceName', /not in the chart/],
    ['Ingress backend missing', 'Ingress/expense-web', (o) => (o.spec.rules[0].http.paths[0].backend.service.name = 'ghost'), 'Ingress/expense-web', 'spec.rules[0].http.paths[0].backend.service.name', /not in the chart/],
    ['Ingress backend port missing', 'Ingress/expense-web', (o) => (o.spec.rules[0].http.paths[0].backend.service.port.number = 81), 'Ingress/expense-web', 'spec.rules[0].http.paths[0].backend.service.port', /no port 81/],
    ['checkov skip without reason', 'Deployment/redis', (o) => (o.metadata.annotations = { 'checkov.io/skip1': 'CKV_K8S_43' }), 'Deployment/redis', 'metadata.annotations[checkov.io/skip1]', /written reason/],
    ['checkov skip with "=" in its reason', 'Deployment/redis', (o) => (o.metadata.annotations = { 'checkov.io/skip1': 'CKV_K8S_43=a=b' }), 'Deployment/redis', 'metadata.annotations[checkov.io/skip1]', /exactly one "="/],
    ['kube-score ignore without reason', 'Deployment/redis', (o) => (o.metadata.annotations = { 'kube-score/ignore': 'deployment-replicas' }), 'Deployment/redis', 'metadata.annotations[kube-score/ignore]', /"deployment-replicas" without a reason/],
    ['hash-suffixed name', 'ConfigMap/expense-config', (o) => (o.metadata.name = 'expense-config-c85455e2'), 'ConfigMap/expense-config-c85455e2', 'metadata.name', /hash suffix/],
  ])('reports %s with the object and field', (_label, target, mutate, object, field, message) => {
    const [kind, name] = target.split('/');
    expectFinding(validateManifests(mutated(kind, name, mutate)), object, field, message);
  });

  it('rejects kinds it has no schema for', () => {
    const objects = [{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }];
    expectFinding(validateManifests(objects), 'Widget/w', 'apiVersion', /no OpenAPI schema/);
  });

  it('accepts references to Secrets that are in the chart', () => {
    const objects = mutated('Deployment', 'expense-web', (o) => (web(o).env[0] = { name: 'X', valueFrom: { secretKeyRef: { name: 'in-chart', key: 'k' } } }));
    objects.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'in-chart', namespace: 'expense-tracker' }, data: { k: 'dg==' } });
    expect(validateManifests(objects)).toEqual([]);
  });
});
