/**
 * Naming conventions: the grammars Kubernetes imposes on names and the recommended
 * `app.kubernetes.io/*` labels
 * (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/,
 * https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
 */

/** RFC 1123 DNS label (Namespace and Service names). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** RFC 1123 subdomain, as used for Ingress hosts and most object names (no wildcard, no port). */
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Value of `app.kubernetes.io/part-of` on every object. */
export const PART_OF = 'expense-tracker';
/** Value of `app.kubernetes.io/managed-by` on every object. */
export const MANAGED_BY = 'cdk8s';

/** `app.kubernetes.io/instance` of an environment: `expense-tracker-<environment name>`. */
export function instanceName(environmentName: string): string {
  return `${PART_OF}-${environmentName}`;
}

/** Identity of one component of the application. */
export interface ComponentIdentity {
  /** `app.kubernetes.io/name`: the application this component runs, e.g. `postgresql`. */
  readonly name: string;
  /** `app.kubernetes.io/instance`: the environment instance, e.g. `expense-tracker-local`. */
  readonly instance: string;
  /** `app.kubernetes.io/component`: the role, e.g. `web`, `database`, `cache`. */
  readonly component: string;
  /** `app.kubernetes.io/version`: version of the software this component runs (image tag). */
  readonly version: string;
}

/**
 * Labels that select this component's pods: name, instance and component. Never includes
 * `version`, so selectors stay valid across upgrades (selectors are immutable on Deployments
 * and StatefulSets).
 */
export function selectorLabels(id: ComponentIdentity): Record<string, string> {
  return {
    'app.kubernetes.io/name': id.name,
    'app.kubernetes.io/instance': id.instance,
    'app.kubernetes.io/component': id.component,
  };
}

/** All six recommended labels for objects and pod templates of a component. */
export function recommendedLabels(id: ComponentIdentity): Record<string, string> {
  return {
    ...selectorLabels(id),
    'app.kubernetes.io/part-of': PART_OF,
    'app.kubernetes.io/managed-by': MANAGED_BY,
    'app.kubernetes.io/version': labelValue(id.version),
  };
}

/**
 * Makes a string a valid label value (at most 63 characters of `[A-Za-z0-9_.-]`,
 * alphanumeric at both ends).
 */
export function labelValue(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 63);
  return cleaned.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
}

/**
 * Pod template annotation listing label keys (comma-separated) that a process in the pod sets
 * on its own Pod at runtime, e.g. Patroni's `role`; the validator lets Service selectors use them.
 */
export const RUNTIME_LABELS_ANNOTATION = 'expense-tracker.io/runtime-labels';
