/** The workload base on its own: a minimal subclass, no environment. */
import { Chart, Duration, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from './synthesize.js';
import { validateManifests } from './validate.js';
import { Workload, type WorkloadProps } from './workload.js';

const probe = kplus.Probe.fromTcpSocket({ port: 9000, periodSeconds: Duration.seconds(5) });

/** A worker with one container on port 9000 named `api`. */
class Worker extends Workload {
  constructor(scope: Construct, id: string, props: Partial<WorkloadProps> = {}, container: Partial<kplus.ContainerProps> = {}) {
    super(scope, id, {
      kind: 'Deployment',
      name: 'worker',
      identity: { name: 'worker-app', component: 'worker' },
      image: { repository: 'registry.example/worker', tag: '2.1.0' },
      resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
      podIdentity: { uid: 20000, gid: 20000 },
      ...props,
    });
    this.addContainer({ name: 'worker', ports: [{ number: 9000, name: 'api' }], readiness: probe, liveness: probe, ...container });
  }
}

function synth(build: (chart: Chart) => void): KubeObject[] {
  const chart = Testing.chart();
  build(chart);
  return Testing.synth(chart) as KubeObject[];
}
const find = (objects: KubeObject[], kind: string, name: string): any => objects.find((o) => o.kind === kind && o.metadata.name === name);

describe('Workload', () => {
  it('labels, selects and restricts every pod and container', () => {
    const objects = synth((c) => new Worker(c, 'W'));
    const d = find(objects, 'Deployment', 'worker');
    const selector = { 'app.kubernetes.io/name': 'worker-app', 'app.kubernetes.io/instance': 'expense-tracker', 'app.kubernetes.io/component': 'worker' };
    expect(d.spec.selector.matchLabels).toEqual(selector);
    expect(d.metadata.labels).toMatchObject({ ...selector, 'app.kubernetes.io/version': '2.1.0', 'app.kubernetes.io/part-of': 'expense-tracker' });
    const pod = d.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 20000, runAsGroup: 20000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0]).toMatchObject({
      image: 'registry.example/worker:2.1.0',
      imagePullPolicy: 'IfNotPresent',
      resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
      securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } },
    });
    expect(validateManifests(objects)).toEqual([]);
  });

  it('budgets disruptions and spreads pods only with more than one replica', () => {
    const one = synth((c) => new Worker(c, 'W'));
    expect(one.filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
    expect(find(one, 'Deployment', 'worker').spec.template.spec.affinity).toBeUndefined();

    const three = synth((c) => new Worker(c, 'W', { replicas: 3 }));
    expect(find(three, 'PodDisruptionBudget', 'worker').spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: find(three, 'Deployment', 'worker').spec.selector.matchLabels } });
    const soft = find(three, 'Deployment', 'worker').spec.template.spec.affinity.podAntiAffinity;
    expect(soft.preferredDuringSchedulingIgnoredDuringExecution[0]).toMatchObject({ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' } });

    const required = synth((c) => new Worker(c, 'W', { replicas: 3, antiAffinity: 'required' }));
    expect(find(required, 'Deployment', 'worker').spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe('kubernetes.io/hostname');
  });

  it('exposes named container ports through Services, plain and headless', () => {
    const objects = synth((c) => {
      const w = new Worker(c, 'W');
      w.exposeViaService('Service', { name: 'worker', ports: [{ name: 'api', port: 80 }] });
      w.exposeViaHeadlessService('Headless', { name: 'worker-pods', ports: [{ name: 'api', port: 9000 }] });
    });
    expect(find(objects, 'Service', 'worker').spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'api', port: 80, targetPort: 'api' }] });
    expect(find(objects, 'Service', 'worker-pods').spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: false, ports: [{ name: 'api', port: 9000, targetPort: 'api', protocol: 'TCP' }] });
    expect(find(objects, 'Service', 'worker-pods').spec.selector).toEqual(find(objects, 'Deployment', 'worker').spec.selector.matchLabels);
    expect(validateManifests(objects)).toEqual([]);
  });

  it('lets a peer workload, namespaces or anyone in, on its first port by default', () => {
    const objects = synth((c) => {
      const server = new Worker(c, 'Server');
      const client = new Worker(c, 'Client', { name: 'client', identity: { name: 'client-app', component: 'client' }, peerName: 'client' });
      server.allowFrom(client);
      server.allowFrom({ name: 'monitoring', namespaces: ['monitoring'] }, { port: 'api' });
      server.allowFrom({ name: 'any', anywhere: true }, { port: 9000, name: 'public-worker' });
    });
    const fromClient = find(objects, 'NetworkPolicy', 'allow-client-to-worker').spec;
    expect(fromClient.podSelector.matchLabels).toEqual(find(objects, 'Deployment', 'worker').spec.selector.matchLabels);
    expect(fromClient.ingress).toEqual([{ from: [{ podSelector: { matchLabels: find(objects, 'Deployment', 'client').spec.selector.matchLabels } }], ports: [{ protocol: 'TCP', port: 9000 }] }]);
    expect(find(objects, 'NetworkPolicy', 'allow-monitoring-to-worker').spec.ingress[0]).toEqual({
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
      ports: [{ protocol: 'TCP', port: 'api' }],
    });
    expect(find(objects, 'NetworkPolicy', 'public-worker').spec.ingress).toEqual([{ ports: [{ protocol: 'TCP', port: 9000 }] }]);
  });

  it('gives a StatefulSet its headless Service, retained claim templates and a mounted volume', () => {
    const objects = synth(
      (c) =>
        new Worker(c, 'W', {
          kind: 'StatefulSet',
          statefulSet: { serviceName: 'worker-headless', ports: [{ name: 'api', port: 9000 }], volumeClaims: [{ name: 'state', mountPath: '/state', storage: '2Gi', storageClassName: 'fast' }] },
        }),
    );
    const sts = find(objects, 'StatefulSet', 'worker');
    expect(sts.spec.serviceName).toBe('worker-headless');
    expect(sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
    expect(sts.spec.volumeClaimTemplates[0].spec).toEqual({ accessModes: ['ReadWriteOnce'], storageClassName: 'fast', resources: { requests: { storage: '2Gi' } } });
    expect(sts.spec.template.spec.containers[0].volumeMounts).toContainEqual({ name: 'state', mountPath: '/state' });
    expect(find(objects, 'Service', 'worker-headless').spec.selector).toEqual(sts.spec.selector.matchLabels);
    expect(validateManifests(objects)).toEqual([]);
  });

  it('refuses bad props naming the class and the field', () => {
    const chart = Testing.chart();
    expect(() => new Worker(chart, 'A', { name: 'Not_A_Label' })).toThrow(/^Worker: name: must be a DNS label/);
    expect(() => new Worker(chart, 'B', { replicas: 0 })).toThrow(/^Worker: replicas: must be an integer from 1 to 100, got 0$/);
    expect(() => new Worker(chart, 'C', { image: { repository: 'registry.example/worker', tag: 'latest' } })).toThrow(/^Worker: image: .* uses the latest tag/);
    expect(() => new Worker(chart, 'D', { kind: 'StatefulSet' })).toThrow(/^Worker: statefulSet: is required/);
    expect(() => new Worker(chart, 'E', {}, { readiness: undefined })).toThrow(/^Worker: container worker: needs a readiness and a liveness probe$/);
    expect(() => new Worker(chart, 'F', { podIdentity: { uid: 0, gid: 0 } })).toThrow(/uid must be a non-zero integer/);
  });

  it('takes a digest-pinned image and labels the version from it', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const objects = synth((c) => new Worker(c, 'W', { image: { repository: 'registry.example/worker', tag: '2.1.0', digest } }));
    expect(find(objects, 'Deployment', 'worker').spec.template.spec.containers[0].image).toBe(`registry.example/worker:2.1.0@${digest}`);
  });
});
