/**
 * Ingress isolation for the namespace: `default-deny-ingress` selects every pod and allows
 * nothing, then one NetworkPolicy per allowed flow
 * (https://kubernetes.io/docs/concepts/services-networking/network-policies/#default-deny-all-ingress-traffic).
 * Workloads create the allows with `Workload.allowFrom(peer)`.
 */
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';

/** Who may connect: pods of this namespace, any pod of some namespaces, or anyone. */
export type NetworkPeer =
  | {
      /** Short name in the policy name (`allow-<name>-to-…`). */
      readonly name: string;
      /** Labels of the pods of this namespace allowed to connect. */
      readonly pods: Readonly<Record<string, string>>;
    }
  | {
      readonly name: string;
      /** Namespaces (by `kubernetes.io/metadata.name`) whose pods may connect. */
      readonly namespaces: readonly string[];
    }
  | {
      readonly name: string;
      /** Any source, inside or outside the cluster (e.g. a LoadBalancer's clients). */
      readonly anywhere: true;
    };

/** One allowed flow. */
export interface AllowIngressProps {
  /** `metadata.name` of the NetworkPolicy. */
  readonly name: string;
  /** Labels of the pods receiving traffic (`spec.podSelector.matchLabels`). */
  readonly to: Readonly<Record<string, string>>;
  /** TCP port number or named container port allowed. */
  readonly port: number | string;
  readonly from: NetworkPeer;
}

/**
 * A NetworkPolicy allowing one flow.
 * @throws Error if `to` selects nothing or `from` names no namespace
 */
export function allowIngress(scope: Construct, id: string, props: AllowIngressProps): k8s.KubeNetworkPolicy {
  if (Object.keys(props.to).length === 0) throw new Error(`NetworkPolicy ${props.name}: "to" must select pods by label`);
  const port = typeof props.port === 'number' ? k8s.IntOrString.fromNumber(props.port) : k8s.IntOrString.fromString(props.port);
  const ports = [{ protocol: 'TCP', port }];
  const peer = props.from;
  let rule: k8s.NetworkPolicyIngressRule;
  if ('anywhere' in peer) {
    rule = { ports };
  } else if ('pods' in peer) {
    rule = { from: [{ podSelector: { matchLabels: { ...peer.pods } } }], ports };
  } else {
    if (peer.namespaces.length === 0) throw new Error(`NetworkPolicy ${props.name}: "from.namespaces" must not be empty`);
    rule = { from: peer.namespaces.map((ns) => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } })), ports };
  }
  return new k8s.KubeNetworkPolicy(scope, id, {
    metadata: { name: props.name },
    spec: { podSelector: { matchLabels: { ...props.to } }, policyTypes: ['Ingress'], ingress: [rule] },
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
