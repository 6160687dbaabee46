/**
 * Cluster add-ons of a real-node cluster, run the way real clusters run them (so the charts'
 * NetworkPolicies meet what they expect):
 * - CoreDNS: Deployment `coredns` in kube-system labelled `k8s-app: kube-dns` behind Service
 *   `kube-dns` (ClusterIP CLUSTER_DNS_IP), the `kubernetes` plugin for `cluster.local`;
 * - RBAC for kube-router's network policy controller, which runs as a node process (see node.ts);
 * - local-path-provisioner: Deployment in kube-system provisioning `local` PersistentVolumes
 *   with node affinity (fsGroup applies to them, unlike hostPath) for the environments'
 *   StorageClasses, both `WaitForFirstConsumer` (the provisioner needs the selected node);
 * - Traefik: Deployment `traefik` in the Ingress controller namespace the environment expects
 *   (minikube's addon lives in `ingress-nginx`, IKS's ALBs in `kube-system`), serving the
 *   `k8s.io/ingress-nginx` classes with its ingress-nginx provider and `traefik.io/ingress-controller`
 *   classes with its Kubernetes Ingress provider, publishing `127.0.0.1` as Ingress status, reached
 *   from the host through NodePort INGRESS_NODE_PORT.
 */
import { CLUSTER_DNS_IP, CLUSTER_DOMAIN } from './config.js';
import { componentImage, HELPER_IMAGE } from './images.js';

/** NodePort of the Traefik Service (`web` entry point). */
export const INGRESS_NODE_PORT = 30080;
/**
 * CoreDNS listens on 53 in its pod, as in kubeadm, minikube and IKS clusters: NetworkPolicies
 * match the pod's port after the Service's DNAT, so charts allowing DNS egress to port 53 must
 * work here too. A non-root process binds it through the pod's safe sysctl
 * `net.ipv4.ip_unprivileged_port_start` (no capability needed).
 */
const DNS_PORT = 53;
/** Traefik's in-container ports (unprivileged). */
const TRAEFIK_WEB_PORT = 8000;
const TRAEFIK_PING_PORT = 9000;

/** Ingress classes the environments use, and which controller implements each (as on minikube and IKS). */
export const INGRESS_CLASSES: readonly { name: string; controller: string }[] = [
  { name: 'nginx', controller: 'k8s.io/ingress-nginx' },
  { name: 'public-iks-k8s-nginx', controller: 'k8s.io/ingress-nginx' },
  { name: 'public-iks-traefik', controller: 'traefik.io/ingress-controller' },
];

/**
 * StorageClasses of the environments (local: minikube `standard`; ibm: IKS VPC block, and VPC file
 * for the import staging claim). All are local-path here, which provisions ReadWriteOnce volumes
 * only: the suites run an environment's ReadWriteMany claims as ReadWriteOnce, which every pod of
 * the single node mounts (see `singleNodeSets` in test/cluster/support.ts).
 */
export const STORAGE_CLASSES: readonly { name: string; isDefault: boolean }[] = [
  { name: 'standard', isDefault: true },
  { name: 'ibmc-vpc-block-10iops-tier', isDefault: false },
  { name: 'ibmc-vpc-file-dp2', isDefault: false },
];

export const LOCAL_PATH_PROVISIONER = 'rancher.io/local-path';

const restrictedContainer = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

const sa = (namespace: string, name: string) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
const clusterRole = (name: string, rules: object[]) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules });
const clusterRoleBinding = (name: string, namespace: string, account: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
  subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
});
const rule = (apiGroups: string[], resources: string[], verbs: string[]) => ({ apiGroups, resources, verbs });
/** A one-replica add-on Deployment whose pods carry (and are selected by) `labels`. */
const deployment = (namespace: string, name: string, labels: Record<string, string>, podSpec: object) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace, labels },
  spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec } },
});
const READ = ['get', 'list', 'watch'];

function coreDns(): object[] {
  const corefile = `.:${DNS_PORT} {
    errors
    health :8080
    ready :8181
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    cache 30
    loadbalance
}
`;
  const labels = { 'k8s-app': 'kube-dns' };
  return [
    sa('kube-system', 'coredns'),
    clusterRole('system:coredns', [rule([''], ['endpoints', 'services', 'pods', 'namespaces'], ['list', 'watch']), rule(['discovery.k8s.io'], ['endpointslices'], ['list', 'watch'])]),
    clusterRoleBinding('system:coredns', 'kube-system', 'coredns'),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: 'kube-system' }, data: { Corefile: corefile } },
    deployment('kube-system', 'coredns', labels, {
      serviceAccountName: 'coredns',
      priorityClassName: 'system-cluster-critical',
      dnsPolicy: 'Default',
      securityContext: { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: String(DNS_PORT) }] },
      containers: [{
        name: 'coredns',
        image: componentImage('coredns'),
        args: ['-conf', '/etc/coredns/Corefile'],
        ports: [{ name: 'dns', containerPort: DNS_PORT, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: DNS_PORT, protocol: 'TCP' }],
        readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 2 },
        livenessProbe: { httpGet: { path: '/health', port: 8080 }, periodSeconds: 10, failureThreshold: 5 },
        resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '170Mi' } },
        securityContext: restrictedContainer,
        volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
      }],
      volumes: [{ name: 'config', configMap: { name: 'coredns' } }],
    }),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { ...labels, 'kubernetes.io/name': 'CoreDNS' } },
      spec: {
        selector: labels,
        clusterIP: CLUSTER_DNS_IP,
        ports: [
          { name: 'dns', port: 53, targetPort: DNS_PORT, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, targetPort: DNS_PORT, protocol: 'TCP' },
        ],
      },
    },
  ];
}

/** RBAC of kube-router's network policy controller (a node process authenticating as user `kube-router`). */
function kubeRouterRbac(): object[] {
  return [
    clusterRole('kube-router', [
      rule([''], ['pods', 'namespaces', 'nodes', 'services', 'endpoints'], READ),
      rule(['discovery.k8s.io'], ['endpointslices'], READ),
      rule(['networking.k8s.io'], ['networkpolicies'], READ),
    ]),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'kube-router' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kube-router' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'kube-router' }],
    },
  ];
}

function localPathProvisioner(volumeDir: string): object[] {
  const labels = { app: 'local-path-provisioner' };
  const config = { nodePathMap: [{ node: 'DEFAULT_PATH_FOR_NON_LISTED_NODES', paths: [volumeDir] }] };
  const helperPod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'helper-pod' },
    spec: { priorityClassName: 'system-node-critical', containers: [{ name: 'helper-pod', image: HELPER_IMAGE, imagePullPolicy: 'IfNotPresent' }] },
  };
  return [
    sa('kube-system', 'local-path-provisioner'),
    clusterRole('local-path-provisioner', [
      rule([''], ['nodes', 'persistentvolumeclaims', 'configmaps', 'pods', 'pods/log'], READ),
      rule([''], ['persistentvolumes'], [...READ, 'create', 'delete', 'patch', 'update']),
      rule([''], ['pods'], ['create', 'delete']),
      rule([''], ['events'], ['create', 'patch']),
      rule([''], ['endpoints'], [...READ, 'create', 'update', 'patch']),
      rule(['coordination.k8s.io'], ['leases'], [...READ, 'create', 'update', 'patch']),
      rule(['storage.k8s.io'], ['storageclasses'], READ),
    ]),
    clusterRoleBinding('local-path-provisioner', 'kube-system', 'local-path-provisioner'),
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'local-path-config', namespace: 'kube-system' },
      data: {
        'config.json': `${JSON.stringify(config, null, 2)}\n`,
        // World-writable so any pod UID can use it until fsGroup takes the directory over.
        setup: '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
        teardown: '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
        'helperPod.yaml': JSON.stringify(helperPod, null, 2),
      },
    },
    deployment('kube-system', 'local-path-provisioner', labels, {
      serviceAccountName: 'local-path-provisioner',
      priorityClassName: 'system-cluster-critical',
      containers: [{
        name: 'local-path-provisioner',
        image: componentImage('local-path-provisioner'),
        args: ['start', '--config', '/etc/config/config.json', '--provisioner-name', LOCAL_PATH_PROVISIONER, '--helper-image', HELPER_IMAGE,
          '--configmap-name', 'local-path-config', '--service-account-name', 'local-path-provisioner'],
        env: [{ name: 'POD_NAMESPACE', value: 'kube-system' }, { name: 'CONFIG_MOUNT_PATH', value: '/etc/config' }],
        resources: { requests: { cpu: '20m', memory: '32Mi' } },
        securityContext: restrictedContainer,
        volumeMounts: [{ name: 'config', mountPath: '/etc/config', readOnly: true }],
      }],
      volumes: [{ name: 'config', configMap: { name: 'local-path-config' } }],
    }),
    ...STORAGE_CLASSES.map((sc) => ({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: {
        name: sc.name,
        annotations: { defaultVolumeType: 'local', ...(sc.isDefault ? { 'storageclass.kubernetes.io/is-default-class': 'true' } : {}) },
      },
      provisioner: LOCAL_PATH_PROVISIONER,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'WaitForFirstConsumer',
    })),
  ];
}

function traefik(namespace: string): object[] {
  const labels = { 'app.kubernetes.io/name': 'traefik', 'app.kubernetes.io/component': 'ingress-controller' };
  const name = 'traefik';
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    sa(namespace, name),
    clusterRole(`traefik-${namespace}`, [
      rule([''], ['services', 'secrets', 'nodes', 'namespaces', 'endpoints', 'configmaps', 'pods'], READ),
      rule(['discovery.k8s.io'], ['endpointslices'], READ),
      rule(['networking.k8s.io', 'extensions'], ['ingresses', 'ingressclasses'], READ),
      rule(['networking.k8s.io', 'extensions'], ['ingresses/status'], ['update', 'patch']),
    ]),
    clusterRoleBinding(`traefik-${namespace}`, namespace, name),
    deployment(namespace, name, labels, {
      serviceAccountName: name,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{
        name: 'traefik',
        image: componentImage('traefik'),
        args: [
          `--entryPoints.web.address=:${TRAEFIK_WEB_PORT}`,
          `--entryPoints.traefik.address=:${TRAEFIK_PING_PORT}`,
          '--ping=true',
          '--providers.kubernetesIngress=true',
          '--providers.kubernetesIngress.ingressEndpoint.ip=127.0.0.1',
          '--providers.kubernetesIngressNGINX=true',
          '--providers.kubernetesIngressNGINX.publishStatusAddress=127.0.0.1',
          '--global.checkNewVersion=false',
          '--global.sendAnonymousUsage=false',
          '--log.level=INFO',
          '--accesslog=false',
        ],
        ports: [{ name: 'web', containerPort: TRAEFIK_WEB_PORT }, { name: 'traefik', containerPort: TRAEFIK_PING_PORT }],
        readinessProbe: { httpGet: { path: '/ping', port: TRAEFIK_PING_PORT }, periodSeconds: 2 },
        livenessProbe: { httpGet: { path: '/ping', port: TRAEFIK_PING_PORT }, periodSeconds: 10, failureThreshold: 5 },
        resources: { requests: { cpu: '50m', memory: '64Mi' } },
        securityContext: restrictedContainer,
      }],
    }),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels },
      spec: { type: 'NodePort', selector: labels, ports: [{ name: 'web', port: 80, targetPort: 'web', nodePort: INGRESS_NODE_PORT }] },
    },
  ];
}

export interface AddonOptions {
  /** Namespace of the Ingress controller (an environment's `ingressControllerNamespace`). */
  ingressNamespace: string;
  /** Host directory local-path-provisioner creates volumes in. */
  volumeDir: string;
}

/** Every add-on object, in apply order. */
export function addonObjects(options: AddonOptions): object[] {
  return [
    ...INGRESS_CLASSES.map((ic) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: ic.name }, spec: { controller: ic.controller } })),
    ...coreDns(),
    ...kubeRouterRbac(),
    ...localPathProvisioner(options.volumeDir),
    ...traefik(options.ingressNamespace),
  ];
}

/** Workloads `addonObjects` creates that must be ready before the cluster counts as up. */
export function addonWorkloads(ingressNamespace: string): { kind: 'deployment'; namespace: string; name: string }[] {
  return [
    { kind: 'deployment', namespace: 'kube-system', name: 'coredns' },
    { kind: 'deployment', namespace: 'kube-system', name: 'local-path-provisioner' },
    { kind: 'deployment', namespace: ingressNamespace, name: 'traefik' },
  ];
}
