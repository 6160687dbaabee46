/**
 * In-process synthesis: environment config → one `Synthesis` (objects in apply order, the HAProxy
 * cfg, the app settings, the Secrets, the compose topology) → files. Used by `npm run synth`,
 * the cdk8s CLI app (`charts/main.ts`), the Pulumi component and the tests.
 */
import { App } from 'cdk8s';
import type { AppConfigKey } from '@expense-tracker/model/app-contract';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { instanceName } from '@expense-tracker/model/naming';
import { composeTopology, type ComposeTopology } from './docker-compose.js';
import { secretSpecs, type SecretSpec } from './secrets.js';
import { ExpenseTrackerChart } from './expense-tracker-chart.js';
import type { NamedDashboard } from '../monitoring/dashboards/index.js';
import type { MonitoredTopology } from '../monitoring/targets.js';

/** A Kubernetes object as plain JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/**
 * Apply order by kind, as Helm installs (dependencies first: Namespace, policies, config,
 * storage, Services, workloads, Ingress). Unknown kinds go last.
 */
export const KIND_ORDER: readonly string[] = [
  'Namespace',
  'NetworkPolicy',
  'ResourceQuota',
  'LimitRange',
  'PodDisruptionBudget',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'StorageClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'Role',
  'RoleBinding',
  'Service',
  'DaemonSet',
  'Pod',
  'Deployment',
  'HorizontalPodAutoscaler',
  'StatefulSet',
  'Job',
  'CronJob',
  'IngressClass',
  'Ingress',
];

function kindRank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i === -1 ? KIND_ORDER.length : i;
}

/**
 * Sorts objects into apply order (kind rank, then name by UTF-16 code unit); returns a new array.
 * Names are DNS labels (`[a-z0-9-]`), for which this is the same order as an `en` collation,
 * without the cost of loading ICU collation data (about 70 ms on a cold process).
 */
export function sortObjects<T extends KubeObject>(objects: readonly T[]): T[] {
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...objects].sort((a, b) => kindRank(a.kind) - kindRank(b.kind) || byName(a.metadata.name, b.metadata.name));
}

/** Everything one environment renders to, computed once; every output reads it. */
export interface Synthesis {
  readonly environment: EnvironmentConfig;
  /** Kubernetes objects in apply order (no Secrets: they are created outside the chart). */
  readonly objects: readonly KubeObject[];
  /** The `haproxy.cfg` the HAProxy ConfigMap carries; undefined when HAProxy is disabled. */
  readonly haproxyConfig?: string;
  /** The app's non-secret settings (the `expense-config` data), by environment variable. */
  readonly configData: Readonly<Record<AppConfigKey, string>>;
  /** The Secrets the objects reference: names, keys, labels and where each value comes from. */
  readonly secrets: readonly SecretSpec[];
  /** The docker-compose topology; undefined unless `compose.enabled`. */
  readonly compose?: ComposeTopology;
  /** The Grafana dashboards the dashboard ConfigMaps carry; empty unless `monitoring.enabled`. */
  readonly dashboards: readonly NamedDashboard[];
  /** What the rules and dashboards describe (object names, HAProxy's proxies), monitoring on or off. */
  readonly topology: MonitoredTopology;
}

/**
 * Synthesizes one environment in memory: the chart in a fresh cdk8s App, and from its
 * constructs the HAProxy cfg, the app settings, the Secrets and the compose topology.
 * YAML files, `haproxy.cfg`, the compose file and the Pulumi component all read this result.
 */
export function synthesize(environment: EnvironmentConfig): Synthesis {
  const app = new App();
  const chart = new ExpenseTrackerChart(app, instanceName(environment.name), { environment });
  const configData = chart.config.data;
  return {
    environment,
    objects: sortObjects(chart.toJson() as KubeObject[]),
    haproxyConfig: chart.haproxy?.config,
    configData,
    secrets: secretSpecs(environment),
    compose: environment.compose.enabled ? composeTopology(environment, configData) : undefined,
    dashboards: chart.monitoring?.dashboards ?? [],
    topology: chart.topology,
  };
}

/** The objects of `synthesize(environment)`, in apply order. */
export function synthesizeEnvironment(environment: EnvironmentConfig): KubeObject[] {
  return [...synthesize(environment).objects];
}

/**
 * File name of an object inside `dist/<env>/`: `<rank>-<kind>-<name>.yaml`, with a two-digit
 * kind rank so `kubectl apply -f dist/<env>` (which reads files in name order) applies
 * dependencies first, and names stay stable when objects are added.
 */
export function manifestFileName(obj: KubeObject): string {
  return `${String(kindRank(obj.kind)).padStart(2, '0')}-${obj.kind.toLowerCase()}-${obj.metadata.name}.yaml`;
}
