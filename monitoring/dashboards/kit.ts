/**
 * The building blocks every dashboard uses, on top of the Grafana Foundation SDK's typed
 * builders: Prometheus queries against the `datasource` template variable, a few panel
 * shapes with consistent units and thresholds, and an explicit 24-column grid layout (the
 * SDK's automatic placement does not wrap rows, so positions are computed here).
 */
import { DashboardBuilder, DatasourceVariableBuilder, MappingType, RowBuilder, ThresholdsConfigBuilder, ThresholdsMode, type Dashboard, type Panel, type RowPanel, type ValueMapping } from '@grafana/grafana-foundation-sdk/dashboard';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { BigValueGraphMode, ReduceDataOptionsBuilder, VizLegendOptionsBuilder, LegendDisplayMode, LegendPlacement } from '@grafana/grafana-foundation-sdk/common';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanelBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as StateTimelinePanelBuilder } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TimeseriesPanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** Name of the dashboards' data source template variable (type `prometheus`). */
export const DATASOURCE_VARIABLE = 'datasource';
const DATASOURCE = { type: 'prometheus', uid: `\${${DATASOURCE_VARIABLE}}` };
/** Width of Grafana's dashboard grid in columns. */
export const GRID_COLUMNS = 24;

/** One query of a panel: PromQL and the legend template. */
export interface Query {
  readonly expr: string;
  readonly legend?: string;
}

function targets(queries: readonly Query[]): DataqueryBuilder[] {
  return queries.map((q, i) =>
    new DataqueryBuilder()
      .expr(q.expr)
      .legendFormat(q.legend ?? '__auto')
      .refId(String.fromCharCode(65 + i))
      .datasource(DATASOURCE),
  );
}

/** Grafana colors of threshold steps. */
export type Color = 'green' | 'orange' | 'red' | 'blue' | 'text';

/** Threshold steps: the base color, then `[from value, color]` in ascending order. */
export function thresholds(base: Color, ...steps: Array<readonly [number, Color]>): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([{ value: null, color: base }, ...steps.map(([value, color]) => ({ value, color }))]);
}

/** Value → text (and color) mappings, e.g. `1 → UP`. */
export function valueText(map: Record<number, readonly [text: string, color: Color | 'gray' | 'yellow']>): ValueMapping[] {
  const options: Record<string, { text: string; color: string; index: number }> = {};
  Object.entries(map).forEach(([value, [text, color]], index) => (options[value] = { text, color, index }));
  return [{ type: MappingType.ValueToText, options }];
}

/** Common options of the panel helpers. */
export interface PanelOptions {
  /** Grafana unit id (`reqps`, `percentunit`, `s`, `bytes`, `short`). */
  readonly unit: string;
  readonly description: string;
  readonly min?: number;
  readonly max?: number;
  readonly decimals?: number;
  readonly thresholds?: ThresholdsConfigBuilder;
  readonly mappings?: ValueMapping[];
}

/** A time series panel with a legend table of last and max values. */
export function timeseries(title: string, queries: readonly Query[], o: PanelOptions & { readonly stack?: boolean }): TimeseriesPanelBuilder {
  const p = new TimeseriesPanelBuilder()
    .title(title)
    .description(o.description)
    .datasource(DATASOURCE)
    .unit(o.unit)
    .lineWidth(1)
    .fillOpacity(o.stack ? 30 : 10)
    .legend(new VizLegendOptionsBuilder().showLegend(true).displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom).calcs([]));
  for (const t of targets(queries)) p.withTarget(t);
  if (o.min !== undefined) p.min(o.min);
  if (o.max !== undefined) p.max(o.max);
  if (o.decimals !== undefined) p.decimals(o.decimals);
  if (o.thresholds) p.thresholds(o.thresholds);
  return p;
}

/** A single-value panel (last value of the query), colored by thresholds. */
export function stat(title: string, query: Query, o: PanelOptions): StatPanelBuilder {
  const p = new StatPanelBuilder()
    .title(title)
    .description(o.description)
    .datasource(DATASOURCE)
    .unit(o.unit)
    .graphMode(BigValueGraphMode.None)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']))
    .withTarget(targets([query])[0]);
  if (o.min !== undefined) p.min(o.min);
  if (o.max !== undefined) p.max(o.max);
  if (o.decimals !== undefined) p.decimals(o.decimals);
  if (o.thresholds) p.thresholds(o.thresholds);
  if (o.mappings) p.mappings(o.mappings);
  return p;
}

/** A state timeline: one lane per series, the value mapped to a named, colored state. */
export function stateTimeline(title: string, query: Query, o: PanelOptions): StateTimelinePanelBuilder {
  const p = new StateTimelinePanelBuilder().title(title).description(o.description).datasource(DATASOURCE).unit(o.unit).withTarget(targets([query])[0]);
  if (o.mappings) p.mappings(o.mappings);
  if (o.thresholds) p.thresholds(o.thresholds);
  return p;
}

/** A panel and the grid cells it takes. */
export interface PanelSpec {
  readonly panel: cog.Builder<Panel> & { gridPos(g: { x: number; y: number; w: number; h: number }): unknown; id(id: number): unknown };
  /** Columns of the 24-column grid. */
  readonly width: number;
  /** Grid rows (30 px each). */
  readonly height: number;
}

/** A titled row of panels; panels wrap to a new line when the 24 columns are full. */
export interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

/** Dashboard identity and defaults. */
export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly rows: readonly RowSpec[];
}

/**
 * Builds a dashboard: a Prometheus data source variable, the rows in order, each panel placed
 * left to right (wrapping at 24 columns) with a stable `id` (1, 2, ... in order).
 * @throws Error when a panel is wider than the grid or has no height
 */
export function buildDashboard(spec: DashboardSpec): Dashboard {
  const builder = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags([...spec.tags])
    .editable()
    .time({ from: 'now-6h', to: 'now' })
    .refresh('30s')
    .timezone('browser')
    .withVariable(new DatasourceVariableBuilder(DATASOURCE_VARIABLE).label('Data source').type('prometheus'));
  let id = 1;
  let y = 0;
  for (const row of spec.rows) {
    builder.withRow(new RowBuilder(row.title).id(id++).gridPos({ x: 0, y, w: GRID_COLUMNS, h: 1 }));
    y += 1;
    let x = 0;
    let lineHeight = 0;
    for (const p of row.panels) {
      if (!Number.isInteger(p.width) || p.width < 1 || p.width > GRID_COLUMNS) throw new Error(`${spec.uid}: panel width must be 1-${GRID_COLUMNS}, got ${p.width}`);
      if (!Number.isInteger(p.height) || p.height < 1) throw new Error(`${spec.uid}: panel height must be a positive integer, got ${p.height}`);
      if (x + p.width > GRID_COLUMNS) {
        y += lineHeight;
        x = 0;
        lineHeight = 0;
      }
      p.panel.gridPos({ x, y, w: p.width, h: p.height });
      p.panel.id(id++);
      builder.withPanel(p.panel);
      x += p.width;
      lineHeight = Math.max(lineHeight, p.height);
    }
    y += lineHeight;
  }
  return builder.build();
}

/** Every panel of a dashboard that is not a row, in order. */
export function dashboardPanels(dashboard: Dashboard): Panel[] {
  return (dashboard.panels ?? []).filter((p): p is Panel => p.type !== 'row');
}

/** Every row of a dashboard. */
export function dashboardRows(dashboard: Dashboard): RowPanel[] {
  return (dashboard.panels ?? []).filter((p): p is RowPanel => p.type === 'row');
}

/** Every PromQL expression of a dashboard's panels. */
export function dashboardExpressions(dashboard: Dashboard): string[] {
  return dashboardPanels(dashboard).flatMap((p) => (p.targets ?? []).map((t) => (t as { expr?: string }).expr ?? '').filter((e) => e !== ''));
}
