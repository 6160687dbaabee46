/**
 * Pinned versions of the monitoring stack the charts and tests are built against. One home:
 * the CRD import (`npm run import:crds`), the generated classes' drift test, the exporter images
 * and the operator build for the cluster tier all read these.
 */

/** Go module of the Prometheus Operator (its module zip carries the CRD manifests). */
export const PROMETHEUS_OPERATOR_MODULE = 'github.com/prometheus-operator/prometheus-operator';
/** Pinned Prometheus Operator release whose CRDs are imported into `charts/imports/`. */
export const PROMETHEUS_OPERATOR_VERSION = 'v0.85.0';
/**
 * CRD manifests imported from the module zip (`example/prometheus-operator-crd/`): the kinds the
 * charts synthesize. Alertmanager, Prometheus and ThanosRuler belong to whoever runs the stack.
 */
export const IMPORTED_CRDS: readonly string[] = [
  'monitoring.coreos.com_podmonitors.yaml',
  'monitoring.coreos.com_probes.yaml',
  'monitoring.coreos.com_prometheusrules.yaml',
  'monitoring.coreos.com_servicemonitors.yaml',
];

/**
 * Upstream exporter images for real deployments. Their versions equal Debian bookworm's
 * `prometheus-postgres-exporter` (0.11.1) and `prometheus-redis-exporter` (1.45.0), from which the
 * test stand-ins are built, so the metric names the tests scrape are the ones production exposes.
 */
export const EXPORTER_IMAGES = {
  /** https://github.com/prometheus-community/postgres_exporter (runs as `nobody`, UID 65534). */
  postgres: 'quay.io/prometheuscommunity/postgres-exporter:v0.11.1',
  /** https://github.com/oliver006/redis_exporter (runs as UID 59000). */
  redis: 'oliver006/redis_exporter:v1.45.0',
} as const;
