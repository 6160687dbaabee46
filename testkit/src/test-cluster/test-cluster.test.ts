import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectBinaries } from './build.js';
import { DEFAULT_DIR, parse, UsageError } from './cli-args.js';
import { bootstrapObjects, DEFAULT_INGRESS_CLASSES, DEFAULT_STORAGE_CLASSES, kwokConfig, readState, saveState, type ClusterState } from './cluster.js';
import { BINARIES, KUBERNETES_VERSION } from './versions.js';

describe('test-cluster CLI arguments', () => {
  it('parses each command and the up flags', () => {
    expect(parse(['up', '--fake-nodes', '2', '--dir', '/tmp/c', '--ingress-namespace', 'kube-system'])).toEqual({ command: 'up', dir: '/tmp/c', fakeNodes: 2, realNode: true, ingressNamespace: 'kube-system' });
    expect(parse(['up', '--no-real-node', '--fake-nodes', '0'])).toMatchObject({ realNode: false, fakeNodes: 0 });
    expect(parse(['env'])).toEqual({ command: 'env', dir: DEFAULT_DIR, fakeNodes: undefined, realNode: true, ingressNamespace: undefined });
    expect(parse(['images']).command).toBe('images');
    expect(parse(['build', '--control-plane'])).toMatchObject({ command: 'build', controlPlaneOnly: true });
    expect(parse(['--help']).command).toBe('help');
  });

  it.each([
    [[], 'expected exactly one command, got none'],
    [['start'], 'unknown command "start"'],
    [['up', 'down'], 'expected exactly one command, got up down'],
    [['up', '--fake-nodes', 'many'], '--fake-nodes must be an integer from 0 to 50'],
    [['up', '--fake-nodes', '51'], '--fake-nodes must be an integer from 0 to 50'],
    [['env', '--fake-nodes', '2'], '--fake-nodes is only valid with "up"'],
    [['down', '--no-real-node'], '--no-real-node is only valid with "up"'],
    [['up', '--ingress-namespace', 'Kube_System'], '--ingress-namespace must be a namespace name'],
    [['up', '--no-real-node', '--ingress-namespace', 'x'], '--ingress-namespace needs the real node'],
    [['up', '--dir', ' '], '--dir must not be empty'],
    [['up', '--nodes', '2'], "Unknown option '--nodes'"],
    [['up', '--control-plane'], '--control-plane is only valid with "build"'],
  ])('rejects %j: %s', (argv, message) => {
    expect(() => parse(argv as string[])).toThrow(UsageError);
    expect(() => parse(argv as string[])).toThrow(message);
  });
});

describe('versions and build selection', () => {
  it('names every binary once; Kubernetes binaries carry the version ldflags of both version packages', () => {
    const names = BINARIES.map((b) => b.name);
    expect(new Set(names).size).toBe(names.length);
    for (const b of BINARIES.filter((s) => s.module === 'kubernetes')) {
      expect(b.version).toBe(KUBERNETES_VERSION);
      expect(b.ldflags).toContain(`-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`);
      expect(b.ldflags).toContain(`-X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION}`);
      expect(b.versionCheck?.expect).toBe(KUBERNETES_VERSION);
    }
  });

  it('the control plane alone leaves the node binaries out; "all" keeps the build order', () => {
    expect(selectBinaries('control-plane').map((b) => b.name)).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'kubectl']);
    expect(selectBinaries('all').map((b) => b.name)).toEqual(BINARIES.map((b) => b.name));
    expect(selectBinaries('all').filter((b) => b.role === 'node').map((b) => b.name)).toEqual(
      expect.arrayContaining(['kubelet', 'kube-proxy', 'coredns', 'crictl', 'kube-router', 'local-path-provisioner', 'traefik', 'pause']),
    );
  });

  it('"node" is the control plane and the node without the monitoring stack, which builds last', () => {
    const monitoring = ['prometheus-operator', 'prometheus-config-reloader', 'prometheus'];
    expect(selectBinaries('node').map((b) => b.name)).toEqual(BINARIES.map((b) => b.name).filter((n) => !monitoring.includes(n)));
    expect(selectBinaries('all').slice(-3).map((b) => b.name)).toEqual(monitoring);
    expect(selectBinaries('all').filter((b) => b.role === 'monitoring').map((b) => b.name)).toEqual(monitoring);
  });
});

describe('bootstrap objects', () => {
  const objects = bootstrapObjects({ nodes: 2, storageClasses: DEFAULT_STORAGE_CLASSES, persistentVolumesPerClass: 3, persistentVolumeCapacity: '5Gi' }) as any[];
  const of = (kind: string) => objects.filter((o) => o.kind === kind);

  it('fake nodes: one zone each, annotated for kwok', () => {
    expect(of('Node').map((n) => [n.metadata.name, n.metadata.labels['topology.kubernetes.io/zone'], n.metadata.annotations['kwok.x-k8s.io/node']])).toEqual([
      ['kwok-node-0', 'zone-a', 'fake'],
      ['kwok-node-1', 'zone-b', 'fake'],
    ]);
  });

  it('one default StorageClass; PersistentVolumes per class with the given capacity', () => {
    expect(of('StorageClass').filter((s) => s.metadata.annotations['storageclass.kubernetes.io/is-default-class'] === 'true').map((s) => s.metadata.name)).toEqual(['standard']);
    const pvs = of('PersistentVolume');
    expect(pvs).toHaveLength(DEFAULT_STORAGE_CLASSES.length * 3);
    expect(pvs.filter((p) => p.spec.accessModes.includes('ReadWriteMany')).map((p) => p.spec.storageClassName)).toEqual(Array(3).fill('ibmc-vpc-file-dp2'));
    expect(new Set(pvs.map((p) => p.spec.capacity.storage))).toEqual(new Set(['5Gi']));
    expect(new Set(pvs.map((p) => p.metadata.name)).size).toBe(pvs.length);
  });

  it('an IngressClass for every class the environments use', () => {
    expect(of('IngressClass').map((c) => c.metadata.name)).toEqual(DEFAULT_INGRESS_CLASSES.map((c) => c.name));
  });
});

describe('kwok configuration', () => {
  const stages = ['apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: pod-ready\nspec: {}', 'apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: pod-delete\nspec: {}'].join('\n---\n');

  it('adds the readiness delay to pod-ready only, and none when max is 0', () => {
    expect(kwokConfig(stages, { min: 300, max: 1500 })).toContain('durationMilliseconds: 300\n    jitterDurationMilliseconds: 1500');
    expect(kwokConfig(stages, { min: 0, max: 0 })).not.toContain('delay');
    expect(kwokConfig(stages, { min: 0, max: 0 }).split('---')).toHaveLength(2);
  });

  it('refuses stages without pod-ready', () => {
    expect(() => kwokConfig('kind: Stage\nmetadata:\n  name: pod-delete\n', { min: 0, max: 0 })).toThrow('no pod-ready Stage');
  });
});

describe('state.json', () => {
  it('round-trips and names the directory when absent', () => {
    const dir = mkdtempSync(join(tmpdir(), 'testkit-state-'));
    try {
      const state = { dir, kubeconfig: join(dir, 'kubeconfig'), server: 'https://127.0.0.1:1', ports: { etcdClient: 1, etcdPeer: 2, apiserver: 3 }, processes: [], binaries: {} } as unknown as ClusterState;
      saveState(state);
      expect(readState(dir)).toEqual(state);
      expect(() => readState(join(dir, 'nowhere'))).toThrow(`no test cluster state in ${join(dir, 'nowhere')} (state.json missing)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
