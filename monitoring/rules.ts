/**
 * Prometheus recording and alerting rules for one environment, from its monitoring settings and
 * topology. The same groups become the `PrometheusRule` object in the cluster and a plain rule
 * file for `promtool` and the local Prometheus.
 *
 * Symptom alerts are multi-window, multi-burn-rate SLO alerts (Google SRE workbook, "Alerting
 * on SLOs", approach 6): a pair of windows fires when both the long window (significance) and
 * the short window (still happening) burn the error budget faster than the pair's rate. Cause
 * alerts name a broken component and link the runbook section that fixes it.
 */
import { stringify } from 'yaml';
import { alternation, duration, num, selector } from './promql.js';
import type { MonitoringSettings } from '@expense-tracker/model/monitoring';
import { JOBS, type MonitoredTopology } from './targets.js';

/** A recording rule (https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/). */
export interface RecordingRule {
  readonly record: string;
  readonly expr: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** An alerting rule (https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/). */
export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  /** Prometheus duration the condition must hold before firing; absent fires on first evaluation. */
  readonly for?: string;
  readonly labels: Readonly<{ severity: Severity } & Record<string, string>>;
  readonly annotations: Readonly<{ summary: string; description: string; runbook_url: string }>;
}

export type Rule = RecordingRule | AlertingRule;

/** A rule group; the shape of a rule file's `groups[]` and of `PrometheusRule.spec.groups[]`. */
export interface RuleGroup {
  readonly name: string;
  /** Evaluation interval (Prometheus duration); absent uses the global `evaluation_interval`. */
  readonly interval?: string;
  readonly rules: readonly Rule[];
}

/**
 * `critical` pages someone now; `warning` is a ticket for working hours (the kube-prometheus
 * convention, routed by Alertmanager on the `severity` label).
 */
export type Severity = 'critical' | 'warning';

/** One multi-window burn-rate condition (SRE workbook, table 5-8). */
export interface BurnRateWindow {
  readonly severity: Severity;
  /** Long window in seconds: is enough budget spent to matter? */
  readonly longSeconds: number;
  /** Short window in seconds (1/12 of the long one): is it still burning? */
  readonly shortSeconds: number;
  /** Share of the period's error budget (percent) that this pair alerts on having consumed. */
  readonly budgetPercent: number;
}

/**
 * The workbook's recommended pairs: page on 2 % of the budget spent in 1 h or 5 % in 6 h;
 * ticket on 10 % in 1 d or in 3 d. With a 30-day period the burn rates are 14.4, 6, 3 and 1.
 */
export const BURN_RATE_WINDOWS: readonly BurnRateWindow[] = [
  { severity: 'critical', longSeconds: 3_600, shortSeconds: 300, budgetPercent: 2 },
  { severity: 'critical', longSeconds: 6 * 3_600, shortSeconds: 1_800, budgetPercent: 5 },
  { severity: 'warning', longSeconds: 86_400, shortSeconds: 2 * 3_600, budgetPercent: 10 },
  { severity: 'warning', longSeconds: 3 * 86_400, shortSeconds: 6 * 3_600, budgetPercent: 10 },
];

/** Burn rate of a window pair: budget share spent × period ÷ long window. */
export function burnRate(window: BurnRateWindow, periodDays: number): number {
  return Number(((window.budgetPercent / 100) * ((periodDays * 86_400) / window.longSeconds)).toPrecision(6));
}

/** Every window an error ratio is recorded for (the pairs' long and short windows). */
export const SLI_WINDOWS_SECONDS: readonly number[] = [...new Set(BURN_RATE_WINDOWS.flatMap((w) => [w.shortSeconds, w.longSeconds]))].sort((a, b) => a - b);

/** The service level objectives, by `slo` label value. */
export type SloName = 'availability' | 'latency';

/** Name of the recorded error ratio of an SLI over a window (`slo:sli_error:ratio_rate5m`). */
export const sliErrorRecord = (windowSeconds: number) => `slo:sli_error:ratio_rate${duration(windowSeconds)}`;
/** Recorded error ratio over the whole SLO period (average of the 5-minute ratios). */
export const SLI_ERROR_PERIOD_RECORD = 'slo:sli_error:ratio_period';
/** Recorded objective as a ratio of good events (`0.995`). */
export const SLO_OBJECTIVE_RECORD = 'slo:objective:ratio';

/** Alert names, each with its section of docs/runbooks.md (anchor = lower-cased name). */
export const ALERTS = {
  availabilityBurn: 'ExpenseAvailabilityBudgetBurn',
  latencyBurn: 'ExpenseLatencyBudgetBurn',
  targetDown: 'ExpenseTargetDown',
  targetMissing: 'ExpenseTargetMissing',
  webReplicasUnavailable: 'ExpenseWebReplicasUnavailable',
  postgresDown: 'ExpensePostgresDown',
  redisDown: 'ExpenseRedisDown',
  postgresVolumeLow: 'ExpensePostgresVolumeLow',
  postgresVolumeFillingUp: 'ExpensePostgresVolumeFillingUp',
  certificateExpiresSoon: 'ExpenseCertificateExpiresSoon',
  budgetEmailsFailing: 'ExpenseBudgetEmailsFailing',
  postgresReplicationLag: 'ExpensePostgresReplicationLag',
  postgresBackupTooOld: 'ExpensePostgresBackupTooOld',
} as const;

/** `runbook_url` of an alert: the runbook base URL plus the alert's section anchor. */
export function runbookUrl(settings: MonitoringSettings, alert: string): string {
  return `${settings.runbookBaseUrl}#${alert.toLowerCase()}`;
}

/**
 * The error-ratio expression of an SLI over a window, by namespace.
 * - availability: 5xx responses ÷ all responses of HAProxy's app backends: what clients get,
 *   including HAProxy's own 503 when no web pod is up and 504 on timeouts, but not the probes
 *   HAProxy answers itself (`monitor-uri`); without HAProxy, the app's own 5xx share.
 * - latency: share of successful GET requests to the objective's routes slower than the
 *   threshold, from the app's histogram (`1 - bucket{le=threshold} / count`).
 */
export function sliErrorRatio(slo: SloName, windowSeconds: number, settings: MonitoringSettings, topology: MonitoredTopology): string {
  const w = duration(windowSeconds);
  const ns = topology.namespace;
  if (slo === 'availability') {
    if (topology.haproxy) {
      const base = { namespace: ns, job: JOBS.haproxy, proxy: { re: alternation(topology.haproxy.backends) } };
      return (
        `sum by (namespace) (rate(${selector('haproxy_backend_http_responses_total', { ...base, code: '5xx' })}[${w}]))\n` +
        `/\nsum by (namespace) (rate(${selector('haproxy_backend_http_responses_total', base)}[${w}]))`
      );
    }
    const base = { namespace: ns, job: JOBS.web };
    return (
      `sum by (namespace) (rate(${selector('http_request_duration_seconds_count', { ...base, status_code: { re: '5..' } })}[${w}]))\n` +
      `/\nsum by (namespace) (rate(${selector('http_request_duration_seconds_count', base)}[${w}]))`
    );
  }
  const l = settings.slo.latency;
  const base = { namespace: ns, job: JOBS.web, method: 'GET', route: { re: alternation(l.routes) }, status_code: { nre: '5..' } };
  return (
    `1 - (\n  sum by (namespace) (rate(${selector('http_request_duration_seconds_bucket', { ...base, le: num(l.thresholdSeconds) })}[${w}]))\n` +
    `  /\n  sum by (namespace) (rate(${selector('http_request_duration_seconds_count', base)}[${w}]))\n)`
  );
}

function objectiveRatio(slo: SloName, settings: MonitoringSettings): number {
  return Number((settings.slo[slo].objectivePercent / 100).toPrecision(8));
}

/** Allowed error ratio of an SLO (`1 - objective`), e.g. 0.005 for 99.5 %. */
export function errorBudgetRatio(slo: SloName, settings: MonitoringSettings): number {
  return Number(((100 - settings.slo[slo].objectivePercent) / 100).toPrecision(8));
}

/**
 * One group per SLO: its error-ratio recordings, then the burn-rate alerts that read them.
 * Prometheus evaluates the rules of a group in order at one timestamp, so each alert sees the
 * ratios recorded in the same evaluation. Groups run independently of each other: alerts in
 * another group would read ratios one evaluation old, or fresh ones, depending on scheduling.
 */
function sloGroup(slo: SloName, settings: MonitoringSettings, topology: MonitoredTopology): RuleGroup {
  const recordings: RecordingRule[] = SLI_WINDOWS_SECONDS.map((w) => ({
    record: sliErrorRecord(w),
    expr: sliErrorRatio(slo, w, settings, topology),
    labels: { slo },
  }));
  return { name: `expense-tracker.slo.${slo}`, rules: [...recordings, ...burnRateAlerts(slo, settings, topology)] };
}

/**
 * Period-long figures for dashboards (budget remaining): the average of the shortest recorded
 * error ratio (5 minutes) over the period, and the objective itself. Evaluated once per that
 * window: a 30-day average moves slowly, and evaluating more often than the ratio it averages
 * changes only adds samples.
 */
function sloPeriodGroup(settings: MonitoringSettings, topology: MonitoredTopology): RuleGroup {
  const period = duration(settings.slo.periodDays * 86_400);
  const window = SLI_WINDOWS_SECONDS[0]!;
  const rules: RecordingRule[] = [];
  for (const slo of ['availability', 'latency'] as const) {
    const labels = { namespace: topology.namespace, slo };
    rules.push({ record: SLI_ERROR_PERIOD_RECORD, expr: `avg_over_time(${selector(sliErrorRecord(window), labels)}[${period}])`, labels: { slo } });
    rules.push({ record: SLO_OBJECTIVE_RECORD, expr: `vector(${num(objectiveRatio(slo, settings))})`, labels });
  }
  return { name: 'expense-tracker.slo.period.rules', interval: duration(window), rules };
}

function burnRateAlerts(slo: SloName, settings: MonitoringSettings, topology: MonitoredTopology): AlertingRule[] {
  const budget = errorBudgetRatio(slo, settings);
  const alert = slo === 'availability' ? ALERTS.availabilityBurn : ALERTS.latencyBurn;
  const labels = { namespace: topology.namespace, slo };
  const what =
    slo === 'availability'
      ? 'requests answered with a 5xx'
      : `${settings.slo.latency.routes.join(', ')} requests slower than ${settings.slo.latency.thresholdSeconds}s`;
  return BURN_RATE_WINDOWS.map((w) => {
    const rate = burnRate(w, settings.slo.periodDays);
    const threshold = `(${num(rate)} * ${num(budget)})`;
    const long = duration(w.longSeconds);
    const short = duration(w.shortSeconds);
    return {
      alert,
      expr: `${selector(sliErrorRecord(w.longSeconds), labels)} > ${threshold}\nand\n${selector(sliErrorRecord(w.shortSeconds), labels)} > ${threshold}`,
      labels: { severity: w.severity, slo, long_window: long, short_window: short },
      annotations: {
        summary: `The ${slo} SLO (${settings.slo[slo].objectivePercent}% over ${settings.slo.periodDays}d) is burning its error budget ${num(rate)}x too fast.`,
        description:
          `{{ $value | humanizePercentage }} of ${what} over the last ${long} (and still above the threshold over ${short}); ` +
          `at this rate ${w.budgetPercent}% of the ${settings.slo.periodDays}-day error budget is gone within ${long}. Namespace {{ $labels.namespace }}.`,
        runbook_url: runbookUrl(settings, alert),
      },
    };
  });
}

function causeAlerts(settings: MonitoringSettings, topology: MonitoredTopology): AlertingRule[] {
  const a = settings.alerts;
  const ns = topology.namespace;
  const rb = (alert: string) => runbookUrl(settings, alert);
  const jobs = [JOBS.web, JOBS.postgres, JOBS.redis, ...(topology.haproxy ? [JOBS.haproxy] : []), ...(topology.patroni ? [JOBS.patroni] : [])];
  const rules: AlertingRule[] = [
    {
      alert: ALERTS.targetDown,
      expr: `${selector('up', { namespace: ns, job: { re: alternation(jobs) } })} == 0`,
      for: duration(a.targetDownForSeconds),
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Prometheus cannot scrape {{ $labels.job }} target {{ $labels.instance }}.',
        description: 'Scrapes of {{ $labels.job }} at {{ $labels.instance }} in {{ $labels.namespace }} have failed for ' + duration(a.targetDownForSeconds) + '; its metrics and the alerts built on them are blind.',
        runbook_url: rb(ALERTS.targetDown),
      },
    },
    {
      alert: ALERTS.targetMissing,
      expr: jobs.map((job) => `absent(${selector('up', { namespace: ns, job })})`).join('\nor\n'),
      for: duration(a.targetDownForSeconds),
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Prometheus has no {{ $labels.job }} target at all.',
        description: 'No target of job {{ $labels.job }} in {{ $labels.namespace }} has been discovered for ' + duration(a.targetDownForSeconds) + ': the monitor is not selected, or its pods or Service are gone.',
        runbook_url: rb(ALERTS.targetMissing),
      },
    },
  ];
  if (topology.haproxy) {
    rules.push({
      alert: ALERTS.webReplicasUnavailable,
      // HAProxy health-checks each web pod's readiness endpoint: its active servers are the replicas
      // that can take traffic. `max` over HAProxy pods: alert only if no HAProxy sees enough.
      expr: `max by (namespace) (${selector('haproxy_backend_active_servers', { namespace: ns, job: JOBS.haproxy, proxy: topology.haproxy.webBackend })}) < ${topology.webReplicas}`,
      for: duration(a.webReplicasUnavailableForSeconds),
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Only {{ $value }} of ' + topology.webReplicas + ' web replicas are in rotation.',
        description: `HAProxy's backend ${topology.haproxy.webBackend} has had fewer than ${topology.webReplicas} servers passing the readiness check for ${duration(a.webReplicasUnavailableForSeconds)}; the remaining replicas carry all traffic.`,
        runbook_url: rb(ALERTS.webReplicasUnavailable),
      },
    });
  } else {
    const d = { namespace: ns, deployment: topology.webDeployment };
    rules.push({
      alert: ALERTS.webReplicasUnavailable,
      // kube-state-metrics (part of kube-prometheus-stack).
      expr: `${selector('kube_deployment_status_replicas_available', d)} < ${selector('kube_deployment_spec_replicas', d)}`,
      for: duration(a.webReplicasUnavailableForSeconds),
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Only {{ $value }} web replicas are available.',
        description: `Deployment ${topology.webDeployment} has had fewer available replicas than desired for ${duration(a.webReplicasUnavailableForSeconds)}.`,
        runbook_url: rb(ALERTS.webReplicasUnavailable),
      },
    });
  }
  rules.push(
    {
      alert: ALERTS.postgresDown,
      expr: `${selector('pg_up', { namespace: ns, job: JOBS.postgres })} == 0`,
      ...(a.postgresDownForSeconds > 0 ? { for: duration(a.postgresDownForSeconds) } : {}),
      labels: { severity: 'critical' },
      annotations: {
        summary: 'PostgreSQL is down: the app cannot read or write expenses.',
        description: `postgres_exporter has not been able to connect to PostgreSQL in {{ $labels.namespace }} for ${duration(a.postgresDownForSeconds)}.`,
        runbook_url: rb(ALERTS.postgresDown),
      },
    },
    {
      alert: ALERTS.redisDown,
      expr: `${selector('redis_up', { namespace: ns, job: JOBS.redis })} == 0`,
      ...(a.redisDownForSeconds > 0 ? { for: duration(a.redisDownForSeconds) } : {}),
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Redis is down: dashboards are served without the cache.',
        description: `redis_exporter has not been able to reach Redis in {{ $labels.namespace }} for ${duration(a.redisDownForSeconds)}.`,
        runbook_url: rb(ALERTS.redisDown),
      },
    },
  );
  if (topology.patroni) {
    // postgres_exporter reaches PostgreSQL through Service `postgres`, which follows the leader:
    // pg_up says nothing about the replicas. Each member's Patroni reports whether its own
    // PostgreSQL runs; a member whose Patroni is gone as well shows as ExpenseTargetDown.
    rules.push({
      alert: ALERTS.postgresDown,
      expr: `${selector('patroni_postgres_running', { namespace: ns, job: JOBS.patroni, scope: topology.patroni.scope })} == 0`,
      ...(a.postgresDownForSeconds > 0 ? { for: duration(a.postgresDownForSeconds) } : {}),
      labels: { severity: 'warning' },
      annotations: {
        summary: 'PostgreSQL of Patroni member {{ $labels.name }} is not running: the cluster has lost a member\'s redundancy.',
        description: `Patroni on {{ $labels.name }} (cluster {{ $labels.scope }}, namespace {{ $labels.namespace }}) has reported its PostgreSQL not running for ${duration(a.postgresDownForSeconds)}; a failover cannot promote it and, if it was the leader, clients depend on the failover.`,
        runbook_url: rb(ALERTS.postgresDown),
      },
    });
  }
  const volume = { namespace: ns, persistentvolumeclaim: { re: topology.postgresVolumeClaims } };
  const available = selector('kubelet_volume_stats_available_bytes', volume);
  const capacity = selector('kubelet_volume_stats_capacity_bytes', volume);
  rules.push(
    {
      alert: ALERTS.postgresVolumeLow,
      // kubelet volume statistics (kube-prometheus-stack scrapes the kubelets).
      expr: `${available}\n/\n${capacity}\n* 100 < ${num(a.postgresVolumeFreePercent)}`,
      for: '5m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'PostgreSQL volume {{ $labels.persistentvolumeclaim }} has {{ $value | humanize }}% free.',
        description: `The data volume of PostgreSQL is below ${num(a.postgresVolumeFreePercent)}% free space; at 0 PostgreSQL stops accepting writes.`,
        runbook_url: rb(ALERTS.postgresVolumeLow),
      },
    },
    {
      alert: ALERTS.postgresVolumeFillingUp,
      // Only on a volume more than half used: on a mostly empty one, a one-off step (a bulk
      // import, an index build) extrapolates to "full" without being a trend worth a ticket.
      expr: `predict_linear(${available}[6h], ${a.postgresVolumeFullWithinHours * 3600}) < 0\nand\n${available}\n/\n${capacity}\n< 0.5`,
      for: '1h',
      labels: { severity: 'warning' },
      annotations: {
        summary: `PostgreSQL volume {{ $labels.persistentvolumeclaim }} fills up within ${a.postgresVolumeFullWithinHours} hours.`,
        description: `At the growth rate of the last 6 hours the data volume of PostgreSQL runs out of space within ${a.postgresVolumeFullWithinHours} hours.`,
        runbook_url: rb(ALERTS.postgresVolumeFillingUp),
      },
    },
  );
  if (topology.patroni) {
    const member = { namespace: ns, job: JOBS.patroni, scope: topology.patroni.scope };
    rules.push({
      alert: ALERTS.postgresReplicationLag,
      // Patroni reports the leader's flushed WAL position (0 on replicas) and each replica's
      // replayed position (0 on the leader); lag is their difference per replica, in bytes.
      expr:
        `max by (namespace, scope) (${selector('patroni_xlog_location', member)})\n` +
        `- on (namespace, scope) group_right\n${selector('patroni_xlog_replayed_location', member)}\n` +
        `> ${a.postgresReplicationLagBytes}\n` +
        `and on (namespace, scope, name)\n${selector('patroni_replica', member)} == 1`,
      for: duration(a.postgresReplicationLagForSeconds),
      labels: { severity: 'warning' },
      annotations: {
        summary: 'PostgreSQL replica {{ $labels.name }} is {{ $value | humanize1024 }}B behind the primary.',
        description:
          `Replica {{ $labels.name }} of Patroni cluster {{ $labels.scope }} has replayed more than ${a.postgresReplicationLagBytes} bytes less WAL than the primary ` +
          `for ${duration(a.postgresReplicationLagForSeconds)}: Patroni would not promote it on failover, and reads from it are stale.`,
        runbook_url: rb(ALERTS.postgresReplicationLag),
      },
    });
  }
  if (topology.backupCronJobs && topology.backupCronJobs.length > 0) {
    const cronjobs = { namespace: ns, cronjob: { re: alternation(topology.backupCronJobs) } };
    const maxAge = a.postgresBackupMaxAgeHours * 3600;
    const lastSuccess = `max by (namespace) (${selector('kube_cronjob_status_last_successful_time', cronjobs)})`;
    rules.push({
      alert: ALERTS.postgresBackupTooOld,
      // kube-state-metrics: the newest successful backup run, or, while none has succeeded yet,
      // the creation of the oldest backup CronJob (a schedule that never succeeds is caught too).
      expr:
        `time() - ${lastSuccess} > ${maxAge}\nor\n` +
        `(time() - min by (namespace) (${selector('kube_cronjob_created', cronjobs)}) > ${maxAge}\nunless on (namespace)\n${lastSuccess})`,
      labels: { severity: 'warning' },
      annotations: {
        summary: `No PostgreSQL backup has succeeded for ${a.postgresBackupMaxAgeHours} hours.`,
        description:
          `None of the backup CronJobs (${topology.backupCronJobs.join(', ')}) in {{ $labels.namespace }} has completed a run for {{ $value | humanizeDuration }}; ` +
          'a restore would lose everything since the last good backup beyond what WAL archiving still holds.',
        runbook_url: rb(ALERTS.postgresBackupTooOld),
      },
    });
  }
  if (topology.tlsHost) {
    rules.push({
      alert: ALERTS.certificateExpiresSoon,
      expr: `${selector('probe_ssl_earliest_cert_expiry', { namespace: ns, job: JOBS.tls })} - time() < ${a.certificateExpiryDays * 86_400}`,
      for: '1h',
      labels: { severity: 'warning' },
      annotations: {
        summary: `The TLS certificate of ${topology.tlsHost} expires in {{ $value | humanizeDuration }}.`,
        description: `The certificate served for https://${topology.tlsHost} expires within ${a.certificateExpiryDays} days; browsers refuse the site once it has.`,
        runbook_url: rb(ALERTS.certificateExpiresSoon),
      },
    });
  }
  const window = duration(a.mailFailingForSeconds);
  const mail = (result: string) => `sum by (namespace) (increase(${selector('budget_alerts_total', { namespace: ns, job: JOBS.web, result })}[${window}]))`;
  rules.push({
    alert: ALERTS.budgetEmailsFailing,
    expr: `${mail('failed')} > 0\nunless\n${mail('sent')} > 0`,
    labels: { severity: 'warning' },
    annotations: {
      summary: 'Budget alert emails are failing and none was sent in ' + window + '.',
      description: `{{ $value | humanize }} budget alert emails failed in the last ${window} and none succeeded; the outbox keeps retrying them with backoff.`,
      runbook_url: rb(ALERTS.budgetEmailsFailing),
    },
  });
  return rules;
}

/**
 * Every rule group of an environment: per SLO its SLI recordings and burn-rate alerts, the
 * period figures, and the cause alerts. Deterministic for the same input.
 */
export function buildRuleGroups(settings: MonitoringSettings, topology: MonitoredTopology): RuleGroup[] {
  return [
    sloGroup('availability', settings, topology),
    sloGroup('latency', settings, topology),
    sloPeriodGroup(settings, topology),
    { name: 'expense-tracker.causes.alerts', rules: causeAlerts(settings, topology) },
  ];
}

/** A Prometheus rule file (`rule_files:` entry, `promtool check rules` input) as YAML. */
export function renderRuleFile(groups: readonly RuleGroup[]): string {
  return stringify({ groups }, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Every alerting rule of a set of groups. */
export function alertingRules(groups: readonly RuleGroup[]): AlertingRule[] {
  return groups.flatMap((g) => g.rules.filter((r): r is AlertingRule => 'alert' in r));
}
