/**
 * The metric names a PromQL expression reads, from the Prometheus project's own PromQL grammar
 * (`@prometheus-io/lezer-promql`, the parser of the Prometheus web UI). Used to check that rules
 * and dashboards only reference metrics a real scrape exposes.
 */
import { parser } from '@prometheus-io/lezer-promql';

/** Grafana's built-in interval variables, replaced by a fixed duration for parsing. */
const GRAFANA_VARIABLES: Readonly<Record<string, string>> = { $__rate_interval: '5m', $__interval: '1m', $__range: '1d' };

/** An expression with Grafana's interval variables replaced, so Prometheus tools can parse it. */
export function withoutGrafanaVariables(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, (v) => GRAFANA_VARIABLES[v]);
}

/**
 * Metric names of every vector selector in `expr` (sorted, unique).
 * @throws Error when the expression does not parse or selects by a non-literal `__name__`
 */
export function metricNames(expr: string): string[] {
  const text = withoutGrafanaVariables(expr);
  const tree = parser.parse(text);
  const names = new Set<string>();
  let error: string | undefined;
  tree.iterate({
    enter(node) {
      if (node.type.isError) error ??= `syntax error at ${node.from}: ${JSON.stringify(text.slice(Math.max(0, node.from - 20), node.to + 20))}`;
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.add(text.slice(id.from, id.to));
        else throw new Error(`selector without a metric name in ${JSON.stringify(text)}`);
      }
    },
  });
  if (error) throw new Error(`PromQL ${error}`);
  return [...names].sort();
}
