/**
 * Network isolation for the namespace, in both directions
 * (https://kubernetes.io/docs/concepts/services-networking/network-policies/):
 *
 * - ingress: `default-deny-ingress` selects every pod and allows nothing in, then one
 *   NetworkPolicy per allowed flow (`allowIngress`);
 * - egress: `default-deny-egress` selects every pod and allows nothing out, `allow-dns-egress`
 *   lets every pod query the cluster DNS, then one NetworkPolicy per allowed flow (`allowEgress`).
 *
 * NetworkPolicies are additive: a connection is allowed when some policy selecting the source
 * allows it out and some policy selecting the destination allows it in. Workloads create both
 * halves of a flow with `Workload.allowFrom(peer)` / `Workload.allowTo(peer)`.
 *
 * Policies see connections after Service address translation, so a destination is the pod (or
 * address) that answers, on its container port, never a Service's ClusterIP or Service port.
 */
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';

/**
 * The other end of a flow, for ingress (who may connect) and egress (where connections may go):
 * pods of this namespace, pods of some namespaces, address blocks, the public internet, or any
 * address at all.
 */
export type NetworkPeer =
  | {
      /** Short name in the policy name (`allow-<name>-to-…`, `allow-<from>-to-<name>-egress`). */
      readonly name: string;
      /** Labels of the pods of this namespace. */
      readonly pods: Readonly<Record<string, string>>;
    }
  | {
      readonly name: string;
      /** Namespaces (by `kubernetes.io/metadata.name`) whose pods are the peer. */
      readonly namespaces: readonly string[];
      /**
       * Only the pods with these labels in those namespaces.
       * @default - every pod of the namespaces
       */
      readonly pods?: Readonly<Record<string, string>>;
    }
  | {
      readonly name: string;
      /** Address blocks (IPv4 CIDR), e.g. the API server's endpoints. */
      readonly cidrs: readonly string[];
    }
  | {
      readonly name: string;
      /** Every public IPv4 address: `0.0.0.0/0` except `NON_PUBLIC_IPV4`. */
      readonly internet: true;
    }
  | {
      readonly name: string;
      /** Any address, inside or outside the cluster (e.g. a LoadBalancer's clients). */
      readonly anywhere: true;
    };

/**
 * IPv4 ranges that are not the public internet: RFC 1918 private networks, RFC 6598 shared
 * address space (carrier-grade NAT), RFC 3927 link-local (cloud metadata services), RFC 1122
 * loopback and "this network" (https://www.iana.org/assignments/iana-ipv4-special-registry).
 * They contain the pod and Service networks of minikube (10.244.0.0/16, 10.96.0.0/12) and IKS
 * (172.30.0.0/16, 172.21.0.0/16), so an "internet" allow never reaches inside the cluster.
 */
export const NON_PUBLIC_IPV4: readonly string[] = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
];

/** A port a policy allows: a number or a named container port of the destination (TCP unless said). */
export interface PolicyPort {
  readonly port: number | string;
  /** @default 'TCP' */
  readonly protocol?: 'TCP' | 'UDP';
}

/** One allowed incoming flow. */
export interface AllowIngressProps {
  /** `metadata.name` of the NetworkPolicy. */
  readonly name: string;
  /** Labels of the pods receiving traffic (`spec.podSelector.matchLabels`). */
  readonly to: Readonly<Record<string, string>>;
  /** TCP port number or named container port allowed. */
  readonly port: number | string;
  readonly from: NetworkPeer;
}

/** One allowed outgoing flow. */
export interface AllowEgressProps {
  /** `metadata.name` of the NetworkPolicy. */
  readonly name: string;
  /** Labels of the pods opening the connections (`spec.podSelector.matchLabels`). */
  readonly from: Readonly<Record<string, string>>;
  readonly to: NetworkPeer;
  /** Ports allowed at the destination (container ports for pods: policies apply after Service translation). */
  readonly ports: readonly PolicyPort[];
}

const CIDR = /^(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\/(?:[0-9]|[12][0-9]|3[0-2])$/;

const intOrString = (port: number | string) => (typeof port === 'number' ? k8s.IntOrString.fromNumber(port) : k8s.IntOrString.fromString(port));
const policyPorts = (ports: readonly PolicyPort[]) => ports.map((p) => ({ protocol: p.protocol ?? 'TCP', port: intOrString(p.port) }));

/**
 * The `from`/`to` entries of a rule for a peer (`field` names the prop in errors); undefined for
 * `anywhere`: a rule without peers matches every address.
 */
function peerSelectors(policy: string, field: 'from' | 'to', peer: NetworkPeer): k8s.NetworkPolicyPeer[] | undefined {
  if ('anywhere' in peer) return undefined;
  if ('internet' in peer) return [{ ipBlock: { cidr: '0.0.0.0/0', except: [...NON_PUBLIC_IPV4] } }];
  if ('cidrs' in peer) {
    if (peer.cidrs.length === 0) throw new Error(`NetworkPolicy ${policy}: "${field}.cidrs" must not be empty`);
    for (const cidr of peer.cidrs) if (!CIDR.test(cidr)) throw new Error(`NetworkPolicy ${policy}: "${field}.cidrs" must be IPv4 CIDRs such as "10.0.0.1/32", got "${cidr}"`);
    return peer.cidrs.map((cidr) => ({ ipBlock: { cidr } }));
  }
  if ('namespaces' in peer) {
    if (peer.namespaces.length === 0) throw new Error(`NetworkPolicy ${policy}: "${field}.namespaces" must not be empty`);
    return peer.namespaces.map((ns) => ({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
      ...(peer.pods ? { podSelector: { matchLabels: { ...peer.pods } } } : {}),
    }));
  }
  if (Object.keys(peer.pods).length === 0) throw new Error(`NetworkPolicy ${policy}: "${field}.pods" must select pods by label`);
  return [{ podSelector: { matchLabels: { ...peer.pods } } }];
}

/**
 * A NetworkPolicy allowing one incoming flow.
 * @throws Error if `to` or `from.pods` selects nothing, `from.namespaces` is empty or a CIDR is malformed
 */
export function allowIngress(scope: Construct, id: string, props: AllowIngressProps): k8s.KubeNetworkPolicy {
  if (Object.keys(props.to).length === 0) throw new Error(`NetworkPolicy ${props.name}: "to" must select pods by label`);
  const from = peerSelectors(props.name, 'from', props.from);
  const ports = policyPorts([{ port: props.port }]);
  return new k8s.KubeNetworkPolicy(scope, id, {
    metadata: { name: props.name },
    spec: { podSelector: { matchLabels: { ...props.to } }, policyTypes: ['Ingress'], ingress: [from ? { from, ports } : { ports }] },
  });
}

/**
 * A NetworkPolicy allowing one outgoing flow.
 * @throws Error if `from` or `to.pods` selects nothing, a CIDR is malformed or no port is given
 */
export function allowEgress(scope: Construct, id: string, props: AllowEgressProps): k8s.KubeNetworkPolicy {
  if (Object.keys(props.from).length === 0) throw new Error(`NetworkPolicy ${props.name}: "from" must select pods by label`);
  if (props.ports.length === 0) throw new Error(`NetworkPolicy ${props.name}: at least one port is required`);
  const to = peerSelectors(props.name, 'to', props.to);
  const ports = policyPorts(props.ports);
  return new k8s.KubeNetworkPolicy(scope, id, {
    metadata: { name: props.name },
    spec: {
      podSelector: { matchLabels: { ...props.from } },
      policyTypes: ['Egress'],
      egress: [to ? { to, ports } : { ports }],
    },
  });
}

/** `default-deny-ingress`: every pod of the namespace, no ingress allowed. */
export class DefaultDenyIngress extends Construct {
  static readonly NAME = 'default-deny-ingress';
  readonly policy: k8s.KubeNetworkPolicy;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.policy = new k8s.KubeNetworkPolicy(this, 'Resource', {
      metadata: { name: DefaultDenyIngress.NAME },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    });
  }
}

/** Where the cluster DNS answers: its pods, by namespace and labels. */
export interface ClusterDns {
  /** Namespace of the DNS pods. */
  readonly namespace: string;
  /** Labels of the DNS pods. */
  readonly pods: Readonly<Record<string, string>>;
  /**
   * Ports of the DNS pods' containers (policies see the pod's port, after Service translation).
   * @default `DefaultDenyEgress.KUBE_DNS_PORTS`
   */
  readonly ports?: readonly PolicyPort[];
}

/** Props for `DefaultDenyEgress`. */
export interface DefaultDenyEgressProps {
  /**
   * The cluster DNS every pod may query.
   * @default CoreDNS of minikube, kubeadm and IKS: pods `k8s-app: kube-dns` in `kube-system`
   */
  readonly dns?: ClusterDns;
}

/**
 * `default-deny-egress` (every pod, nothing out) and `allow-dns-egress` (every pod may query the
 * cluster DNS pods on their DNS ports: without it no Service name resolves). The DNS pods keep the
 * `k8s-app: kube-dns` label of the kube-dns era
 * (https://kubernetes.io/docs/tasks/administer-cluster/dns-custom-nameservers/).
 * @throws Error when `dns.pods` is empty or `dns.namespace` is blank
 */
export class DefaultDenyEgress extends Construct {
  static readonly NAME = 'default-deny-egress';
  static readonly DNS_NAME = 'allow-dns-egress';
  /**
   * CoreDNS's container ports: 53 where it may bind it, and the port names of the upstream
   * manifest (`dns` UDP, `dns-tcp` TCP), which also match a CoreDNS that runs without
   * NET_BIND_SERVICE on an unprivileged port (the Service still maps 53 to it).
   */
  static readonly KUBE_DNS_PORTS: readonly PolicyPort[] = [
    { port: 53, protocol: 'UDP' },
    { port: 53, protocol: 'TCP' },
    { port: 'dns', protocol: 'UDP' },
    { port: 'dns-tcp', protocol: 'TCP' },
  ];
  /** The cluster DNS of minikube, kubeadm clusters and IKS. */
  static readonly KUBE_DNS: ClusterDns = { namespace: 'kube-system', pods: { 'k8s-app': 'kube-dns' } };
  readonly policy: k8s.KubeNetworkPolicy;
  readonly dnsPolicy: k8s.KubeNetworkPolicy;

  constructor(scope: Construct, id: string, props: DefaultDenyEgressProps = {}) {
    super(scope, id);
    const dns = props.dns ?? DefaultDenyEgress.KUBE_DNS;
    if (!dns.namespace.trim()) throw new Error('DefaultDenyEgress: dns.namespace: must name the namespace of the DNS pods');
    if (Object.keys(dns.pods).length === 0) throw new Error('DefaultDenyEgress: dns.pods: must select the DNS pods by label');
    this.policy = new k8s.KubeNetworkPolicy(this, 'Resource', {
      metadata: { name: DefaultDenyEgress.NAME },
      spec: { podSelector: {}, policyTypes: ['Egress'] },
    });
    this.dnsPolicy = new k8s.KubeNetworkPolicy(this, 'Dns', {
      metadata: { name: DefaultDenyEgress.DNS_NAME },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: peerSelectors(DefaultDenyEgress.DNS_NAME, 'to', { name: 'dns', namespaces: [dns.namespace], pods: dns.pods }),
            ports: policyPorts(dns.ports ?? DefaultDenyEgress.KUBE_DNS_PORTS),
          },
        ],
      },
    });
  }
}
