import { ApiObject, type ApiObjectMetadata, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { base } from '@expense-tracker/model/environments/base';
import { DNS_LABEL } from '@expense-tracker/model/naming';

/** Pod Security Standard levels (https://kubernetes.io/docs/concepts/security/pod-security-admission/). */
export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

/** Props for `RestrictedNamespace`. */
export interface RestrictedNamespaceProps {
  /**
   * Namespace name (RFC 1123 DNS label).
   * @default 'expense-tracker' (model/environments/base.ts)
   */
  readonly name?: string;
  /**
   * Level enforced, audited and warned by Pod Security Admission.
   * @default 'restricted'
   */
  readonly level?: PodSecurityLevel;
  /**
   * Extra labels.
   * @default {}
   */
  readonly labels?: Record<string, string>;
}

/**
 * A Namespace whose pods must pass a Pod Security Standard: sets the
 * `pod-security.kubernetes.io/{enforce,audit,warn}` labels and pins their `-version` to `latest`.
 * @throws Error if `name` is not a DNS label.
 */
export class RestrictedNamespace extends Construct {
  readonly namespace: kplus.Namespace;
  readonly name: string;

  constructor(scope: Construct, id: string, props: RestrictedNamespaceProps = {}) {
    super(scope, id);
    this.name = props.name ?? base.namespace;
    if (!DNS_LABEL.test(this.name)) {
      throw new Error(`RestrictedNamespace name must be a DNS label, got "${this.name}"`);
    }
    const level = props.level ?? 'restricted';
    const metadata: ApiObjectMetadata = {
      name: this.name,
      labels: {
        ...props.labels,
        'pod-security.kubernetes.io/enforce': level,
        'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/audit': level,
        'pod-security.kubernetes.io/audit-version': 'latest',
        'pod-security.kubernetes.io/warn': level,
        'pod-security.kubernetes.io/warn-version': 'latest',
      },
    };
    this.namespace = new kplus.Namespace(this, 'Resource', { metadata });
    // A chart-level namespace is stamped on every object; a Namespace itself is cluster-scoped.
    ApiObject.of(this.namespace).addJsonPatch(JsonPatch.remove('/metadata/namespace'));
  }
}
