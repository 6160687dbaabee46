/**
 * "Expense Tracker / HAProxy": what clients get at the load balancer, per backend (rates,
 * responses, errors, retries and redispatches, queue, timings) and per server (health state,
 * check failures, sessions), from HAProxy's built-in Prometheus exporter.
 */
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { alternation, selector } from '../promql.js';
import { BURN_RATE_WINDOWS, burnRate, errorBudgetRatio } from '../rules.js';
import type { MonitoringSettings } from '@expense-tracker/model/monitoring';
import { JOBS, type MonitoredTopology } from '../targets.js';
import { buildDashboard, stat, stateTimeline, thresholds, timeseries, valueText } from './kit.js';

const RATE = '[$__rate_interval]';
/** `haproxy_server_status` states (one series each, value 1 for the current one), as lane values. */
const SERVER_STATES = ['UP', 'DOWN', 'MAINT', 'DRAIN', 'NOLB'] as const;

/**
 * @throws Error when the topology has no HAProxy
 */
export function haproxyDashboard(settings: MonitoringSettings, topology: MonitoredTopology): Dashboard {
  const h = topology.haproxy;
  if (!h) throw new Error(`environment ${topology.environment}: no HAProxy, no HAProxy dashboard`);
  const ns = topology.namespace;
  const m = (metric: string, extra: Record<string, string | { re: string }> = {}) => selector(metric, { namespace: ns, job: JOBS.haproxy, ...extra });
  const backends = { proxy: { re: alternation(h.backends) } };
  const budget = errorBudgetRatio('availability', settings);
  // One number per server and HAProxy pod: 1 UP, 2 DOWN, 3 MAINT, 4 DRAIN, 5 NOLB.
  const stateExpr = SERVER_STATES.map((state, i) => `${i + 1} * max by (instance, proxy, server) (${m('haproxy_server_status', { proxy: h.webBackend, state })})`).join('\n+ ');
  const rows = [
    {
      title: 'Frontend',
      panels: [
        { width: 6, height: 4, panel: stat('Requests/s', { expr: `sum(rate(${m('haproxy_frontend_http_requests_total', { proxy: h.frontend })}${RATE}))` }, { unit: 'reqps', description: `HTTP requests per second received by frontend ${h.frontend} (all HAProxy pods).`, thresholds: thresholds('blue') }) },
        {
          width: 6,
          height: 4,
          panel: stat('5xx share', { expr: `sum(rate(${m('haproxy_backend_http_responses_total', { ...backends, code: '5xx' })}${RATE}))\n/\nsum(rate(${m('haproxy_backend_http_responses_total', backends)}${RATE}))` }, {
            unit: 'percentunit',
            decimals: 2,
            description: 'Share of responses to clients that were server errors, including HAProxy’s own 503 (no server) and 504 (timeout): the availability SLI.',
            // Orange above the error budget (sustainable rate), red at the fast-burn page rate.
            thresholds: thresholds('green', [budget, 'orange'], [budget * burnRate(BURN_RATE_WINDOWS[0], settings.slo.periodDays), 'red']),
          }),
        },
        {
          width: 6,
          height: 4,
          panel: stat('Web servers in rotation', { expr: `max(${m('haproxy_backend_active_servers', { proxy: h.webBackend })})` }, {
            unit: 'short',
            decimals: 0,
            description: `Web pods passing HAProxy’s readiness check (desired: ${topology.webReplicas}).`,
            thresholds: thresholds('red', [1, 'orange'], [topology.webReplicas, 'green']),
          }),
        },
        { width: 6, height: 4, panel: stat('Client sessions', { expr: `sum(${m('haproxy_frontend_current_sessions', { proxy: h.frontend })})` }, { unit: 'short', decimals: 0, description: 'Open client connections on the public frontend.', thresholds: thresholds('blue') }) },
      ],
    },
    {
      title: 'Backends',
      panels: [
        { width: 8, height: 8, panel: timeseries('Requests/s by backend', [{ expr: `sum by (proxy) (rate(${m('haproxy_backend_http_requests_total', backends)}${RATE}))`, legend: '{{proxy}}' }], { unit: 'reqps', min: 0, description: 'Requests forwarded to each backend (api: /api/..., web: pages and assets).' }) },
        { width: 8, height: 8, panel: timeseries('Responses by backend and class', [{ expr: `sum by (proxy, code) (rate(${m('haproxy_backend_http_responses_total', backends)}${RATE}))`, legend: '{{proxy}} {{code}}' }], { unit: 'reqps', min: 0, description: 'Responses per second by status class (1xx-5xx, other).' }) },
        {
          width: 8,
          height: 8,
          panel: timeseries(
            'Errors, retries and redispatches',
            [
              { expr: `sum by (proxy) (rate(${m('haproxy_backend_connection_errors_total', backends)}${RATE}))`, legend: '{{proxy}} connection errors' },
              { expr: `sum by (proxy) (rate(${m('haproxy_backend_response_errors_total', backends)}${RATE}))`, legend: '{{proxy}} response errors' },
              { expr: `sum by (proxy) (rate(${m('haproxy_backend_retry_warnings_total', backends)}${RATE}))`, legend: '{{proxy}} retries' },
              { expr: `sum by (proxy) (rate(${m('haproxy_backend_redispatch_warnings_total', backends)}${RATE}))`, legend: '{{proxy}} redispatches' },
            ],
            { unit: 'ops', min: 0, description: 'Failed connections to web pods, broken responses, and how often HAProxy retried or moved a request to another pod.' },
          ),
        },
        { width: 8, height: 8, panel: timeseries('Queued requests', [{ expr: `sum by (proxy) (${m('haproxy_backend_current_queue', backends)})`, legend: '{{proxy}}' }], { unit: 'short', min: 0, description: 'Requests waiting for a free server slot (every server at maxconn); sustained queueing means too few web pods.' }) },
        {
          width: 8,
          height: 8,
          panel: timeseries(
            'Response and queue time',
            [
              { expr: `max by (proxy) (${m('haproxy_backend_response_time_average_seconds', backends)})`, legend: '{{proxy}} response' },
              { expr: `max by (proxy) (${m('haproxy_backend_queue_time_average_seconds', backends)})`, legend: '{{proxy}} queue' },
            ],
            { unit: 's', min: 0, description: 'Average over the last 1024 requests of the server response time and the time spent queued.' },
          ),
        },
        { width: 8, height: 8, panel: timeseries('Sessions by server', [{ expr: `sum by (server) (${m('haproxy_server_current_sessions', backends)})`, legend: '{{server}}' }], { unit: 'short', min: 0, stack: true, description: 'Open sessions per web pod (server slot), both backends together: shows the balance.' }) },
      ],
    },
    {
      title: 'Servers',
      panels: [
        {
          width: 24,
          height: 8,
          panel: stateTimeline(`Server state (backend ${h.webBackend})`, { expr: stateExpr, legend: '{{instance}} {{server}}' }, {
            unit: 'short',
            description: 'Health-check state of each server as each HAProxy pod sees it. Unused server-template slots stay in MAINT.',
            mappings: valueText({ 1: ['UP', 'green'], 2: ['DOWN', 'red'], 3: ['MAINT', 'gray'], 4: ['DRAIN', 'orange'], 5: ['NOLB', 'yellow'] }),
          }),
        },
        { width: 12, height: 8, panel: timeseries('Health check failures', [{ expr: `sum by (server) (increase(${m('haproxy_server_check_failures_total', { proxy: h.webBackend })}${RATE}))`, legend: '{{server}}' }], { unit: 'short', min: 0, description: 'Failed readiness checks per server; a server goes DOWN after `fall` failures in a row.' }) },
        { width: 12, height: 8, panel: timeseries('State changes', [{ expr: `sum by (server) (increase(${m('haproxy_server_check_up_down_total', { proxy: h.webBackend })}${RATE}))`, legend: '{{server}}' }], { unit: 'short', min: 0, description: 'UP→DOWN transitions per server: flapping pods show up here.' }) },
      ],
    },
  ];
  return buildDashboard({
    uid: `expense-haproxy-${topology.environment}`,
    title: `Expense Tracker / HAProxy (${topology.environment})`,
    description: 'Frontend, per-backend and per-server view of the HAProxy load balancer in front of the expense tracker web pods.',
    tags: ['expense-tracker', topology.environment, 'haproxy'],
    rows,
  });
}
