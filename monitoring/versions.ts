/**
 * Pinned versions of the monitoring stack the charts and tests are built against. One home:
 * the CRD import (`npm run import:crds`), the generated classes' drift test, the exporter images
 * and the operator build for the cluster tier all read these.
 */

import { PROMETHEUS_OPERATOR } from '@expense-tracker/model/monitoring';

/** Go module of the Prometheus Operator (its module zip carries the CRD manifests). */
export const PROMETHEUS_OPERATOR_MODULE = PROMETHEUS_OPERATOR.module;
/** Pinned Prometheus Operator release whose CRDs are imported into `charts/imports/` (model/monitoring.ts). */
export const PROMETHEUS_OPERATOR_VERSION = PROMETHEUS_OPERATOR.version;
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

