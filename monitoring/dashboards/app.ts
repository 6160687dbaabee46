/**
 * "Expense Tracker / App": the service level objectives, RED (rate, errors, duration) per
 * route from the app's own histogram, the dashboard cache, the budget alert mail outbox and
 * the Node.js runtime.
 */
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { alternation, num, selector } from '../promql.js';
import { SLI_ERROR_PERIOD_RECORD, SLO_OBJECTIVE_RECORD, sliErrorRecord, burnRate, BURN_RATE_WINDOWS, type SloName } from '../rules.js';
import type { MonitoringSettings } from '@expense-tracker/model/monitoring';
import { JOBS, type MonitoredTopology } from '../targets.js';
import { buildDashboard, stat, thresholds, timeseries, type PanelSpec } from './kit.js';

const RATE = '[$__rate_interval]';

export function appDashboard(settings: MonitoringSettings, topology: MonitoredTopology): Dashboard {
  const ns = topology.namespace;
  const web = (metric: string, extra: Record<string, string | { re: string }> = {}) => selector(metric, { namespace: ns, job: JOBS.web, ...extra });
  const slo = (record: string, name: SloName) => selector(record, { namespace: ns, slo: name });
  const objective = (name: SloName) => settings.slo[name].objectivePercent / 100;
  const sloStats = (name: SloName, label: string): PanelSpec[] => [
    {
      width: 6,
      height: 4,
      panel: stat(`${label}, ${settings.slo.periodDays}d`, { expr: `1 - ${slo(SLI_ERROR_PERIOD_RECORD, name)}` }, {
        unit: 'percentunit',
        decimals: 3,
        description: `Share of good events over the SLO period; the objective is ${settings.slo[name].objectivePercent}%.`,
        thresholds: thresholds('red', [objective(name), 'green']),
      }),
    },
    {
      width: 6,
      height: 4,
      panel: stat(`${label} error budget left`, { expr: `1 - ${slo(SLI_ERROR_PERIOD_RECORD, name)} / on (namespace, slo) (1 - ${slo(SLO_OBJECTIVE_RECORD, name)})` }, {
        unit: 'percentunit',
        decimals: 1,
        description: `Share of the ${settings.slo.periodDays}-day error budget not yet spent. Below 0 the objective is missed.`,
        thresholds: thresholds('red', [0, 'orange'], [0.25, 'green']),
      }),
    },
  ];
  const latency = settings.slo.latency;
  const sloRoutes = { method: 'GET', route: { re: alternation(latency.routes) } };
  const page = BURN_RATE_WINDOWS[0];

  const rows = [
    {
      title: 'Service level objectives',
      panels: [
        ...sloStats('availability', 'Availability'),
        ...sloStats('latency', `Requests within ${latency.thresholdSeconds}s`),
        {
          width: 24,
          height: 7,
          panel: timeseries('Error budget burn rate (1h window)', [{ expr: `${selector(sliErrorRecord(3600), { namespace: ns })} / on (namespace, slo) (1 - ${selector(SLO_OBJECTIVE_RECORD, { namespace: ns })})`, legend: '{{slo}}' }], {
            unit: 'short',
            min: 0,
            description: `How many times faster than sustainable each SLO spends its budget. At ${num(burnRate(page, settings.slo.periodDays))} (red) the fast-burn page fires.`,
            thresholds: thresholds('green', [1, 'orange'], [burnRate(page, settings.slo.periodDays), 'red']),
          }),
        },
      ],
    },
    {
      title: 'Requests by route (rate, errors, duration)',
      panels: [
        { width: 8, height: 8, panel: timeseries('Request rate by route', [{ expr: `sum by (method, route) (rate(${web('http_request_duration_seconds_count')}${RATE}))`, legend: '{{method}} {{route}}' }], { unit: 'reqps', min: 0, description: 'Requests per second by route pattern, all status codes.' }) },
        {
          width: 8,
          height: 8,
          panel: timeseries(
            'Server errors by route',
            [{ expr: `sum by (method, route) (rate(${web('http_request_duration_seconds_count', { status_code: { re: '5..' } })}${RATE}))\n/\nsum by (method, route) (rate(${web('http_request_duration_seconds_count')}${RATE}))`, legend: '{{method}} {{route}}' }],
            { unit: 'percentunit', min: 0, description: 'Share of 5xx responses per route, as the app answered them (HAProxy-generated errors are on the HAProxy dashboard).' },
          ),
        },
        { width: 8, height: 8, panel: timeseries('Responses by status code', [{ expr: `sum by (status_code) (rate(${web('http_request_duration_seconds_count')}${RATE}))`, legend: '{{status_code}}' }], { unit: 'reqps', min: 0, stack: true, description: 'Responses per second by HTTP status code.' }) },
        { width: 8, height: 8, panel: timeseries('Latency p99 by route', [{ expr: `histogram_quantile(0.99, sum by (method, route, le) (rate(${web('http_request_duration_seconds_bucket')}${RATE})))`, legend: '{{method}} {{route}}' }], { unit: 's', min: 0, description: '99th percentile of the time the app took per route (estimated from histogram buckets).' }) },
        { width: 8, height: 8, panel: timeseries('Latency p50 by route', [{ expr: `histogram_quantile(0.5, sum by (method, route, le) (rate(${web('http_request_duration_seconds_bucket')}${RATE})))`, legend: '{{method}} {{route}}' }], { unit: 's', min: 0, description: 'Median time the app took per route.' }) },
        {
          width: 8,
          height: 8,
          panel: timeseries('Dashboard latency p99 against the objective', [{ expr: `histogram_quantile(0.99, sum by (route, le) (rate(${web('http_request_duration_seconds_bucket', sloRoutes)}${RATE})))`, legend: '{{route}}' }], {
            unit: 's',
            min: 0,
            description: `p99 of the routes under the latency objective (${latency.routes.join(', ')}); the red line is the ${latency.thresholdSeconds}s bound ${latency.objectivePercent}% of them must meet.`,
            thresholds: thresholds('green', [latency.thresholdSeconds, 'red']),
          }),
        },
      ],
    },
    {
      title: 'Dashboard cache and budget alert mail',
      panels: [
        {
          width: 6,
          height: 8,
          panel: timeseries('Dashboard cache hit ratio', [{ expr: `sum(rate(${web('summary_cache_requests_total', { result: 'hit' })}${RATE}))\n/\nsum(rate(${web('summary_cache_requests_total', { result: { re: 'hit|miss' } })}${RATE}))`, legend: 'hit ratio' }], {
            unit: 'percentunit',
            min: 0,
            max: 1,
            description: 'Hits ÷ (hits + misses) of the Redis cache in front of the dashboard aggregates.',
          }),
        },
        { width: 6, height: 8, panel: timeseries('Cache lookups by result', [{ expr: `sum by (result) (rate(${web('summary_cache_requests_total')}${RATE}))`, legend: '{{result}}' }], { unit: 'ops', min: 0, stack: true, description: 'hit, miss, bypass (no cache for this request) and error (Redis failed; served from PostgreSQL).' }) },
        { width: 6, height: 8, panel: timeseries('Mail outbox: budget alert emails per hour', [{ expr: `sum by (result) (increase(${web('budget_alerts_total')}[1h]))`, legend: '{{result}}' }], { unit: 'short', min: 0, description: 'Budget alert emails sent and failed (failed ones stay in the outbox and are retried with backoff).' }) },
        { width: 3, height: 4, panel: stat('Alerts sent', { expr: `sum(increase(${web('budget_alerts_total', { result: 'sent' })}[$__range]))` }, { unit: 'short', decimals: 0, description: 'Budget alert emails sent in the selected time range.', thresholds: thresholds('blue') }) },
        { width: 3, height: 4, panel: stat('Sends failed', { expr: `sum(increase(${web('budget_alerts_total', { result: 'failed' })}[$__range]))` }, { unit: 'short', decimals: 0, description: 'Failed budget alert email attempts in the selected time range.', thresholds: thresholds('green', [1, 'orange']) }) },
      ],
    },
    {
      title: 'Runtime',
      panels: [
        { width: 4, height: 7, panel: stat('Web replicas scraped', { expr: `sum(${web('up')})` }, { unit: 'short', decimals: 0, description: `Web pods whose /metrics answered the last scrape (desired: ${topology.webReplicas}).`, thresholds: thresholds('red', [topology.webReplicas, 'green']) }) },
        { width: 5, height: 7, panel: timeseries('PostgreSQL pool clients', [{ expr: `sum by (state) (${web('pg_pool_connections')})`, legend: '{{state}}' }], { unit: 'short', min: 0, description: 'Clients of the app’s pg Pool: total, idle and waiting (waiting > 0 means the pool is exhausted).' }) },
        { width: 5, height: 7, panel: timeseries('Event loop lag p99', [{ expr: `max by (instance) (${web('nodejs_eventloop_lag_p99_seconds')})`, legend: '{{instance}}' }], { unit: 's', min: 0, description: 'How late timers fire on each web pod: CPU saturation or blocking work shows here first.' }) },
        { width: 5, height: 7, panel: timeseries('Resident memory', [{ expr: `max by (instance) (${web('process_resident_memory_bytes')})`, legend: '{{instance}}' }], { unit: 'bytes', min: 0, description: 'RSS of each web pod’s Node.js process (compare with the memory limit).' }) },
        { width: 5, height: 7, panel: timeseries('CPU', [{ expr: `sum by (instance) (rate(${web('process_cpu_seconds_total')}${RATE}))`, legend: '{{instance}}' }], { unit: 'short', min: 0, description: 'CPU cores used by each web pod’s Node.js process.' }) },
      ],
    },
  ];
  return buildDashboard({
    uid: `expense-app-${topology.environment}`,
    title: `Expense Tracker / App (${topology.environment})`,
    description: 'Service level objectives, requests by route, dashboard cache, budget alert mail and runtime of the expense tracker web pods.',
    tags: ['expense-tracker', topology.environment],
    rows,
  });
}
