/**
 * Every Grafana dashboard of an environment, built with the Grafana Foundation SDK from the
 * same settings and topology as the rules.
 */
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import type { MonitoringSettings } from '@expense-tracker/model/monitoring';
import type { MonitoredTopology } from '../targets.js';
import { appDashboard } from './app.js';
import { dataTierDashboard } from './data-tier.js';
import { haproxyDashboard } from './haproxy.js';

export * from './kit.js';

/** A dashboard and the short name its files and ConfigMap are named after. */
export interface NamedDashboard {
  /** `expense-app`, `expense-haproxy`, `expense-data`: file `dashboards/<name>.json`, ConfigMap `grafana-dashboard-<name>`. */
  readonly name: string;
  readonly dashboard: Dashboard;
}

/** The app, HAProxy (when deployed) and data tier dashboards. */
export function buildDashboards(settings: MonitoringSettings, topology: MonitoredTopology): NamedDashboard[] {
  return [
    { name: 'expense-app', dashboard: appDashboard(settings, topology) },
    ...(topology.haproxy ? [{ name: 'expense-haproxy', dashboard: haproxyDashboard(settings, topology) }] : []),
    { name: 'expense-data', dashboard: dataTierDashboard(settings, topology) },
  ];
}

/** A dashboard as the JSON file Grafana imports (stable key order, trailing newline). */
export function dashboardJson(dashboard: Dashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
