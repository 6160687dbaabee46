import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';

/** One allowed ingress rule: who may connect to which pods on which TCP port. */
export interface AllowIngressRule {
  /** `metadata.name` of the NetworkPolicy. */
  readonly name: string;
  /** Labels of the pods receiving traffic (`spec.podSelector.matchLabels`). */
  readonly to: Record<string, string>;
  /** TCP port number or named container port allowed. */
  readonly port: number | string;
  /**
   * Pods in this namespace allowed to connect (`podSelector.matchLabels`).
   * @default - none
   */
  readonly fromPods?: Record<string, string>;
  /**
   * Namespaces whose pods may connect, by `kubernetes.io/metadata.name`.
   * @default - none
   */
  readonly fromNamespaces?: readonly string[];
}

/** Props for `NetworkPolicies`. */
export interface NetworkPoliciesProps {
  /**
   * Rules that open traffic after the namespace-wide default deny.
   * @default [] (everything denied)
   */
  readonly allow?: readonly AllowIngressRule[];
  /**
   * Labels on every NetworkPolicy.
   * @default {}
   */
  readonly labels?: Record<string, string>;
}

/**
 * Ingress isolation for the namespace: `default-deny-ingress` selects every pod and allows
 * nothing, then one NetworkPolicy per allowed flow
 * (https://kubernetes.io/docs/concepts/services-networking/network-policies/#default-deny-all-ingress-traffic).
 * Egress is not restricted, so DNS and the SendGrid API stay reachable.
 * @throws Error if a rule allows no source or has no target labels.
 */
export class NetworkPolicies extends Construct {
  readonly names: string[] = [];

  constructor(scope: Construct, id: string, props: NetworkPoliciesProps = {}) {
    super(scope, id);
    new k8s.KubeNetworkPolicy(this, 'DefaultDenyIngress', {
      metadata: { name: 'default-deny-ingress', labels: props.labels },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    });
    this.names.push('default-deny-ingress');
    for (const rule of props.allow ?? []) this.allow(rule, props.labels);
  }

  private allow(rule: AllowIngressRule, labels?: Record<string, string>): void {
    if (Object.keys(rule.to).length === 0) throw new Error(`NetworkPolicy ${rule.name}: "to" must select pods by label`);
    const from: k8s.NetworkPolicyPeer[] = [];
    if (rule.fromPods) from.push({ podSelector: { matchLabels: rule.fromPods } });
    for (const ns of rule.fromNamespaces ?? []) {
      from.push({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } });
    }
    if (from.length === 0) throw new Error(`NetworkPolicy ${rule.name}: needs fromPods or fromNamespaces`);
    const port = typeof rule.port === 'number' ? k8s.IntOrString.fromNumber(rule.port) : k8s.IntOrString.fromString(rule.port);
    new k8s.KubeNetworkPolicy(this, rule.name, {
      metadata: { name: rule.name, labels },
      spec: {
        podSelector: { matchLabels: rule.to },
        policyTypes: ['Ingress'],
        ingress: [{ from, ports: [{ protocol: 'TCP', port }] }],
      },
    });
    this.names.push(rule.name);
  }
}
