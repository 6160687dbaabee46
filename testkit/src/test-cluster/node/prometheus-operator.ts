/**
 * A Prometheus Operator stack for real-node clusters of environments with monitoring, laid out
 * as kube-prometheus-stack lays it out: the operator as a Deployment in Prometheus's namespace
 * (its ClusterRole as upstream's `example/rbac/prometheus-operator/`), and one `Prometheus`
 * resource that selects monitors and rules by label in every namespace, with the ServiceAccount
 * and ClusterRole of upstream's `example/rbac/prometheus/`. No Alertmanager: alerts are read from
 * Prometheus's own API (`/api/v1/alerts`).
 *
 * Images: the operator, its config reloader and Prometheus itself, built from the Go module proxy
 * (component images, see images.ts and versions.ts). The namespace enforces the "restricted" Pod Security Standard: the operator's Prometheus pods must
 * (and do) comply.
 */
import { PROMETHEUS_VERSION } from '../versions.js';
import { componentImage } from './images.js';

/** `metadata.name` of the operator's Deployment and ServiceAccount. */
export const PROMETHEUS_OPERATOR_NAME = 'prometheus-operator';
/** `metadata.name` of the `Prometheus` resource; the operator names its StatefulSet `prometheus-<name>`. */
export const PROMETHEUS_NAME = 'k8s';
/** The operator's governing Service of every Prometheus in a namespace (port `web`, 9090). */
export const PROMETHEUS_OPERATED_SERVICE = 'prometheus-operated';
/** Prometheus pods run as `nobody`, like the official image. */
const PROMETHEUS_UID = 65534;

export interface PrometheusStackOptions {
  /** Namespace of the operator and Prometheus (an environment's `monitoring.prometheus.namespace`). */
  namespace: string;
  /** Labels the monitors and rules carry (`monitoring.prometheus.selectorLabels`); Prometheus selects them in every namespace. */
  selectorLabels: Readonly<Record<string, string>>;
  /** Seconds between scrapes of targets whose monitor sets no `interval`, and between rule evaluations. */
  intervalSeconds: number;
}

const restricted = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};
const rule = (apiGroups: string[], resources: string[], verbs: string[]) => ({ apiGroups, resources, verbs });
const READ = ['get', 'list', 'watch'];

function clusterRbac(name: string, namespace: string, rules: object[]): object[] {
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  ];
}

/** The operator: restricted Namespace, RBAC and Deployment, in apply order. */
export function prometheusOperatorObjects(namespace: string): object[] {
  const labels = { 'app.kubernetes.io/name': PROMETHEUS_OPERATOR_NAME, 'app.kubernetes.io/component': 'controller' };
  const enforce = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: enforce } },
    ...clusterRbac(PROMETHEUS_OPERATOR_NAME, namespace, [
      rule(['monitoring.coreos.com'], [
        'alertmanagers', 'alertmanagers/finalizers', 'alertmanagers/status', 'alertmanagerconfigs',
        'prometheuses', 'prometheuses/finalizers', 'prometheuses/status',
        'prometheusagents', 'prometheusagents/finalizers', 'prometheusagents/status',
        'thanosrulers', 'thanosrulers/finalizers', 'thanosrulers/status',
        'scrapeconfigs', 'servicemonitors', 'servicemonitors/status', 'podmonitors', 'probes', 'prometheusrules',
      ], ['*']),
      rule(['apps'], ['statefulsets'], ['*']),
      rule([''], ['configmaps', 'secrets'], ['*']),
      rule([''], ['pods'], ['list', 'delete']),
      rule([''], ['services', 'services/finalizers', 'endpoints'], ['get', 'create', 'update', 'delete']),
      rule([''], ['nodes'], ['list', 'watch']),
      rule([''], ['namespaces'], READ),
      rule([''], ['events'], ['patch', 'create']),
      rule(['networking.k8s.io'], ['ingresses'], READ),
      rule(['storage.k8s.io'], ['storageclasses'], ['get']),
    ]),
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: PROMETHEUS_OPERATOR_NAME, namespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: PROMETHEUS_OPERATOR_NAME,
            securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: PROMETHEUS_OPERATOR_NAME,
              image: componentImage('prometheus-operator'),
              args: [`--prometheus-config-reloader=${componentImage('prometheus-config-reloader')}`, '--web.listen-address=:8080'],
              env: [{ name: 'GOGC', value: '30' }],
              ports: [{ name: 'http', containerPort: 8080 }],
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '200Mi' } },
              securityContext: restricted,
            }],
          },
        },
      },
    },
  ];
}

/**
 * Prometheus's RBAC (read the discovery objects and `/metrics`) and the `Prometheus` resource:
 * one replica of Prometheus, selecting the monitors and rules labelled
 * `selectorLabels` in every namespace, restricted pod security.
 */
export function prometheusObjects(options: PrometheusStackOptions): object[] {
  const { namespace } = options;
  const interval = `${options.intervalSeconds}s`;
  const selector = { matchLabels: { ...options.selectorLabels } };
  return [
    ...clusterRbac('prometheus', namespace, [
      rule([''], ['nodes', 'nodes/metrics', 'services', 'endpoints', 'pods'], READ),
      rule([''], ['configmaps'], ['get']),
      rule(['discovery.k8s.io'], ['endpointslices'], READ),
      rule(['networking.k8s.io'], ['ingresses'], READ),
      { nonResourceURLs: ['/metrics'], verbs: ['get'] },
    ]),
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'Prometheus',
      metadata: { name: PROMETHEUS_NAME, namespace },
      spec: {
        image: componentImage('prometheus'),
        version: PROMETHEUS_VERSION,
        replicas: 1,
        serviceAccountName: 'prometheus',
        serviceMonitorSelector: selector,
        serviceMonitorNamespaceSelector: {},
        podMonitorSelector: selector,
        podMonitorNamespaceSelector: {},
        probeSelector: selector,
        probeNamespaceSelector: {},
        ruleSelector: selector,
        ruleNamespaceSelector: {},
        scrapeInterval: interval,
        evaluationInterval: interval,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: PROMETHEUS_UID,
          runAsGroup: PROMETHEUS_UID,
          fsGroup: PROMETHEUS_UID,
          seccompProfile: { type: 'RuntimeDefault' },
        },
        resources: { requests: { cpu: '50m', memory: '128Mi' } },
      },
    },
  ];
}
