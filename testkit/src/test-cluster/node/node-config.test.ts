import { describe, expect, it } from 'vitest';
import { addonObjects, addonWorkloads, INGRESS_NODE_PORT } from './addons.js';
import { CLUSTER_DNS_IP, cniConflist, containerdConfig, kubeletArgs, kubeletConfiguration, kubeProxyArgs, MIRRORED_REGISTRIES, nodeNetwork, nodePaths, registryHostsFiles } from './config.js';
import { componentImage, HELPER_IMAGE } from './images.js';
import { mirrorRepository, registryConfig } from './registry.js';

describe('node network per slot', () => {
  it('gives distinct slots distinct names, addresses and pod networks; interface names fit 15 bytes', () => {
    const a = nodeNetwork(1);
    const b = nodeNetwork(250);
    expect(a).toMatchObject({ netns: 'etk-node-1', hostIP: '10.201.1.1', nodeVethIP: '10.201.1.2', nodeIP: '10.202.1.1', podCIDR: '10.202.1.0/24' });
    for (const key of ['netns', 'hostVeth', 'nodeVeth', 'hostIP', 'nodeIP', 'podCIDR'] as const) expect(a[key]).not.toBe(b[key]);
    expect(Buffer.byteLength(b.hostVeth)).toBeLessThanOrEqual(15);
    expect(Buffer.byteLength(b.nodeVeth)).toBeLessThanOrEqual(15);
  });

  it.each([0, 251, 1.5, -1])('rejects slot %s', (slot) => {
    expect(() => nodeNetwork(slot)).toThrow(RangeError);
  });
});

describe('containerd, registry mirrors and CNI', () => {
  const paths = nodePaths('/c');
  it('containerd: private root/state/socket/runc root, sandbox netns under the state dir, pause image, mirrors', () => {
    const toml = containerdConfig(paths, componentImage('pause'));
    expect(toml).toContain('root = "/c/node/containerd/root"');
    expect(toml).toContain('address = "/c/node/containerd/containerd.sock"');
    expect(toml).toContain('Root = "/c/node/containerd/runc"');
    expect(toml).toContain('netns_mounts_under_state_dir = true');
    expect(toml).toContain('restrict_oom_score_adj = true');
    expect(toml).toContain('SystemdCgroup = false');
    expect(toml).toContain(`sandbox_image = "${componentImage('pause')}"`);
    expect(toml).toContain('config_path = "/c/node/containerd/certs.d"');
  });

  it('every mirrored registry resolves and pulls through the given mirror', () => {
    const files = registryHostsFiles('http://10.201.3.1:5000');
    expect([...files.keys()].sort()).toEqual(Object.keys(MIRRORED_REGISTRIES).map((r) => `${r}/hosts.toml`).sort());
    for (const content of files.values()) expect(content).toContain('[host."http://10.201.3.1:5000"]\n  capabilities = ["pull", "resolve"]');
  });

  it('CNI: bridge with hairpin, gateway = node IP, no masquerading, private IPAM dir, portmap', () => {
    const conf = JSON.parse(cniConflist(nodeNetwork(7), '/c/ipam'));
    expect(conf.plugins.map((p: any) => p.type)).toEqual(['bridge', 'portmap']);
    expect(conf.plugins[0]).toMatchObject({ bridge: 'cni0', isGateway: true, ipMasq: false, hairpinMode: true });
    expect(conf.plugins[0].ipam).toMatchObject({ type: 'host-local', dataDir: '/c/ipam', ranges: [[{ subnet: '10.202.7.0/24', gateway: '10.202.7.1' }]] });
  });
});

describe('kubelet and kube-proxy', () => {
  const network = nodeNetwork(4);
  const paths = nodePaths('/c');
  const config = kubeletConfiguration({ network, paths, caCert: '/c/ca.crt', servingCert: { cert: '/c/k.crt', key: '/c/k.key' }, cgroupRoot: '/etk-node-4' });

  it('KubeletConfiguration: node IP, cluster DNS, per-cluster cgroup root, the measured settings', () => {
    expect(config).toMatchObject({
      address: '10.202.4.1', clusterDNS: [CLUSTER_DNS_IP], cgroupRoot: '/etk-node-4', cgroupDriver: 'cgroupfs', failSwapOn: false,
      makeIPTablesUtilChains: false, protectKernelDefaults: false, readOnlyPort: 0, oomScoreAdj: 0, healthzBindAddress: '127.0.0.1',
      containerRuntimeEndpoint: 'unix:///c/node/containerd/containerd.sock', podLogsDir: '/c/node/pod-logs', resolvConf: '/c/node/resolv.conf',
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true } }, authorization: { mode: 'Webhook' },
    });
  });

  it('flags: kubelet root dir and node IP; kube-proxy nftables on the node IP, conntrack left alone', () => {
    expect(kubeletArgs(paths, network)).toEqual(expect.arrayContaining(['--root-dir=/c/node/kubelet', '--node-ip=10.202.4.1']));
    expect(kubeProxyArgs(paths, network)).toEqual(expect.arrayContaining(['--proxy-mode=nftables', '--cluster-cidr=10.202.4.0/24', '--nodeport-addresses=10.202.4.1/32', '--conntrack-max-per-core=0']));
  });
});

describe('registry', () => {
  it.each([
    ['postgres:15.10-bookworm', 'library/postgres', '15.10-bookworm'],
    ['docker.io/library/debian:bookworm-slim', 'library/debian', 'bookworm-slim'],
    ['docker.io/redis:7', 'library/redis', '7'],
    ['localhost:5000/expense-tracker:0.1.0', 'expense-tracker', '0.1.0'],
    ['us.icr.io/expense-tracker/expense-tracker:0.1.0', 'expense-tracker/expense-tracker', '0.1.0'],
    ['localhost:5000/expense-tracker-test/coredns:v1.12.4', 'expense-tracker-test/coredns', 'v1.12.4'],
  ])('serves %s as %s:%s', (reference, repository, tag) => {
    expect(mirrorRepository(reference)).toEqual({ repository, tag });
  });

  it('refuses references without a tag', () => {
    expect(() => mirrorRepository('localhost:5000/expense-tracker')).toThrow('has no tag');
  });

  it('config: the shared filesystem storage and the listen address', () => {
    expect(registryConfig('10.201.1.1:5000', '/cache/registry')).toContain('rootdirectory: /cache/registry');
    expect(registryConfig('10.201.1.1:5000', '/cache/registry')).toContain('addr: 10.201.1.1:5000');
  });
});

describe('add-ons', () => {
  const objects = addonObjects({ ingressNamespace: 'kube-system', volumeDir: '/c/vols' }) as any[];
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

  it('CoreDNS as kube-system pods labelled k8s-app=kube-dns behind Service kube-dns', () => {
    expect(find('Deployment', 'coredns').spec.template.metadata.labels).toEqual({ 'k8s-app': 'kube-dns' });
    const svc = find('Service', 'kube-dns');
    expect(svc.metadata.namespace).toBe('kube-system');
    expect(svc.spec.clusterIP).toBe(CLUSTER_DNS_IP);
    expect(svc.spec.selector).toEqual({ 'k8s-app': 'kube-dns' });
  });

  it('Traefik in the ingress namespace, serving both controller classes, publishing status, on the NodePort', () => {
    const traefik = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'traefik');
    expect(traefik.metadata.namespace).toBe('kube-system');
    const args: string[] = traefik.spec.template.spec.containers[0].args;
    expect(args).toEqual(expect.arrayContaining(['--providers.kubernetesIngress=true', '--providers.kubernetesIngressNGINX=true', '--providers.kubernetesIngressNGINX.publishStatusAddress=127.0.0.1']));
    expect(objects.find((o) => o.kind === 'Service' && o.metadata.name === 'traefik').spec.ports[0].nodePort).toBe(INGRESS_NODE_PORT);
    expect(objects.filter((o) => o.kind === 'IngressClass').map((o) => `${o.metadata.name}=${o.spec.controller}`)).toEqual([
      'nginx=k8s.io/ingress-nginx', 'public-iks-k8s-nginx=k8s.io/ingress-nginx', 'public-iks-traefik=traefik.io/ingress-controller',
    ]);
  });

  it('StorageClasses provision local volumes on the selected node; the helper pod uses the Debian stand-in', () => {
    for (const name of ['standard', 'ibmc-vpc-block-10iops-tier', 'ibmc-vpc-file-dp2']) {
      expect(find('StorageClass', name)).toMatchObject({ provisioner: 'rancher.io/local-path', volumeBindingMode: 'WaitForFirstConsumer', metadata: { annotations: { defaultVolumeType: 'local' } } });
    }
    const config = find('ConfigMap', 'local-path-config').data;
    expect(JSON.parse(config['config.json']).nodePathMap[0].paths).toEqual(['/c/vols']);
    expect(config['helperPod.yaml']).toContain(HELPER_IMAGE);
  });

  it('lists the workloads to wait for, including the ingress controller', () => {
    expect(addonWorkloads('ingress-nginx').map((w) => `${w.namespace}/${w.name}`)).toContain('ingress-nginx/traefik');
  });
});
