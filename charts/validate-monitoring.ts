/**
 * Cross-object checks of the Prometheus Operator objects, beyond their CRD schemas: a monitor
 * that selects nothing, or names a port its targets do not have, is valid YAML and silently
 * scrapes nothing; an alert without `severity` or `runbook_url` wakes someone with no way on.
 */
import type { KubeObject } from './synthesize.js';

type Add = (obj: KubeObject, field: string, message: string) => void;

function get(obj: unknown, path: readonly (string | number)[]): any {
  let node: any = obj;
  for (const key of path) node = node?.[key];
  return node;
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

const POD_TEMPLATE_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'];

/**
 * Checks ServiceMonitors, PodMonitors and PrometheusRules against the other objects of the
 * same set (one environment).
 */
export function checkMonitoringObjects(objects: readonly KubeObject[], add: Add): void {
  const services = objects.filter((o) => o.kind === 'Service');
  const workloads = objects.filter((o) => POD_TEMPLATE_KINDS.includes(o.kind));
  for (const obj of objects) {
    if (obj.kind === 'ServiceMonitor') {
      const selector = get(obj, ['spec', 'selector', 'matchLabels']);
      const selected = services.filter((s) => matches(selector, s.metadata.labels));
      if (selected.length === 0) {
        add(obj, 'spec.selector.matchLabels', 'selects no Service in the chart');
        continue;
      }
      (get(obj, ['spec', 'endpoints']) ?? []).forEach((e: any, i: number) => {
        if (e.port && !selected.some((s) => (get(s, ['spec', 'ports']) ?? []).some((p: any) => p.name === e.port))) {
          add(obj, `spec.endpoints[${i}].port`, `no selected Service (${selected.map((s) => s.metadata.name).join(', ')}) has a port named "${e.port}"`);
        }
      });
    }
    if (obj.kind === 'PodMonitor') {
      const selector = get(obj, ['spec', 'selector', 'matchLabels']);
      const selected = workloads.filter((w) => matches(selector, get(w, ['spec', 'template', 'metadata', 'labels'])));
      if (selected.length === 0) {
        add(obj, 'spec.selector.matchLabels', 'selects no pod template in the chart');
        continue;
      }
      (get(obj, ['spec', 'podMetricsEndpoints']) ?? []).forEach((e: any, i: number) => {
        const declared = selected.some((w) =>
          (get(w, ['spec', 'template', 'spec', 'containers']) ?? []).some((c: any) => (c.ports ?? []).some((p: any) => p.name === e.port)),
        );
        if (e.port && !declared) add(obj, `spec.podMetricsEndpoints[${i}].port`, `no selected pod declares a container port named "${e.port}"`);
      });
    }
    if (obj.kind === 'PrometheusRule') {
      const names = new Set<string>();
      (get(obj, ['spec', 'groups']) ?? []).forEach((g: any, i: number) => {
        if (names.has(g.name)) add(obj, `spec.groups[${i}].name`, `duplicate group "${g.name}"`);
        names.add(g.name);
        (g.rules ?? []).forEach((r: any, j: number) => {
          if (!r.alert) return;
          const path = `spec.groups[${i}].rules[${j}](${r.alert})`;
          if (!['critical', 'warning', 'info'].includes(r.labels?.severity)) add(obj, `${path}.labels.severity`, 'must be critical, warning or info');
          if (!/^https?:\/\/[^#]+#[a-z0-9-]+$/.test(r.annotations?.runbook_url ?? '')) add(obj, `${path}.annotations.runbook_url`, 'must link a runbook section (http(s) URL with a #fragment)');
          for (const key of ['summary', 'description']) if (!r.annotations?.[key]) add(obj, `${path}.annotations.${key}`, 'is required');
        });
      });
    }
  }
}
