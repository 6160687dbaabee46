/**
 * The Grafana Foundation SDK types the dashboard JSON is checked against, gathered in one module
 * so one TypeScript program yields their JSON Schemas (see test/integration/dashboards.test.ts).
 */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import type * as stat from '@grafana/grafana-foundation-sdk/stat';
import type * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import type * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

export type GrafanaDashboard = dashboard.Dashboard;
export type PrometheusQuery = prometheus.Dataquery;
export type StatOptions = stat.Options;
export type StateTimelineOptions = statetimeline.Options;
export type StateTimelineFieldConfig = statetimeline.FieldConfig;
export type TimeseriesOptions = timeseries.Options;
export type TimeseriesFieldConfig = timeseries.FieldConfig;
