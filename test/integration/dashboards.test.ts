/**
 * The dashboards as Grafana will read them: the JSON files validate against JSON Schemas derived
 * from the Grafana Foundation SDK's own types (dashboard, per-visualization options and field
 * config, Prometheus query), and every PromQL expression parses with promtool.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { synthesize } from '../../charts/synthesize.js';
import { buildDashboards, dashboardExpressions, dashboardJson, dashboardPanels } from '../../monitoring/dashboards/index.js';
import { checkRuleGroups } from '../../monitoring/promtool.js';
import { withoutGrafanaVariables } from '../../monitoring/promql-names.js';

const TYPES = new URL('../../monitoring/dashboards/schema-types.ts', import.meta.url).pathname;
const TSCONFIG = new URL('../../tsconfig.json', import.meta.url).pathname;
const dashboards = (['local', 'ibm'] as const).flatMap((name) => {
  const env = loadEnvironment(name, { imageTag: '1.0.0' });
  return buildDashboards(env.monitoring, synthesize(env).topology).map((d) => ({ env: name, ...d }));
});

/** Panel type → [options type, field config type] in schema-types.ts. */
const PANEL_TYPES: Record<string, [string, string | undefined]> = {
  timeseries: ['TimeseriesOptions', 'TimeseriesFieldConfig'],
  stat: ['StatOptions', undefined],
  'state-timeline': ['StateTimelineOptions', 'StateTimelineFieldConfig'],
};

describe('dashboards (Grafana Foundation SDK schema, promtool)', () => {
  const validators = new Map<string, ValidateFunction>();
  beforeAll(() => {
    // One TypeScript program; each type's schema is self-contained (its own definitions).
    const generator = createGenerator({ path: TYPES, tsconfig: TSCONFIG, skipTypeCheck: true, expose: 'export', additionalProperties: false, topRef: true });
    const ajv = new Ajv({ strict: false, allErrors: true });
    for (const t of ['GrafanaDashboard', 'PrometheusQuery', ...Object.values(PANEL_TYPES).flat()]) {
      if (!t) continue;
      const schema = generator.createSchema(t) as { definitions: Record<string, object> };
      // The generic dashboard types leave a panel's queries open (cog's `Dataquery` variant
      // marker); each query is checked against the Prometheus query type instead.
      if (t === 'GrafanaDashboard') schema.definitions.Dataquery = { type: 'object' };
      validators.set(t, ajv.compile(schema));
    }
  }, 120_000);

  const check = (type: string, value: unknown): string[] => {
    const validate = validators.get(type)!;
    return validate(value) ? [] : (validate.errors ?? []).map((e) => `${type}${e.instancePath}: ${e.message} ${JSON.stringify(e.params)}`);
  };

  it('every dashboard file validates against the SDK types', () => {
    expect(dashboards.length).toBe(6);
    for (const d of dashboards) {
      const json = JSON.parse(dashboardJson(d.dashboard));
      const problems = check('GrafanaDashboard', json);
      for (const p of json.panels.filter((x: any) => x.type !== 'row')) {
        const [options, fieldConfig] = PANEL_TYPES[p.type] ?? [];
        expect(options, `${d.name}: unexpected panel type ${p.type}`).toBeDefined();
        problems.push(...check(options!, p.options).map((m) => `${p.title}: ${m}`));
        if (fieldConfig) problems.push(...check(fieldConfig, p.fieldConfig.defaults.custom ?? {}).map((m) => `${p.title}: ${m}`));
        for (const t of p.targets) problems.push(...check('PrometheusQuery', t).map((m) => `${p.title}: ${m}`));
      }
      expect(problems, `${d.env}/${d.name}`).toEqual([]);
    }
  });

  it('the schema check fails on a malformed dashboard (it can fail)', () => {
    const json = JSON.parse(dashboardJson(dashboards[0].dashboard));
    json.panels[1].gridPos.w = 'wide';
    json.panels[1].targets[0].expr = 42;
    json.schemaVersion = undefined;
    const problems = [...check('GrafanaDashboard', json), ...check('PrometheusQuery', json.panels[1].targets[0])];
    expect(problems.join('\n')).toMatch(/GrafanaDashboard: must have required property 'schemaVersion'/);
    expect(problems.join('\n')).toMatch(/PrometheusQuery\/expr: must be string/);
    expect(problems.some((p) => p.includes('/panels/1'))).toBe(true);
  });

  it('promtool parses every dashboard expression', async () => {
    for (const d of dashboards) {
      const rules = dashboardExpressions(d.dashboard).map((expr, i) => ({ record: `dashboard:expr_${i}`, expr: withoutGrafanaVariables(expr) }));
      expect(rules.length).toBe(dashboardPanels(d.dashboard).flatMap((p) => p.targets ?? []).length);
      const result = await checkRuleGroups([{ name: `${d.env}-${d.name}`, rules }]);
      expect(result.ok, `${d.env}/${d.name}: ${result.output}`).toBe(true);
    }
  });
});
