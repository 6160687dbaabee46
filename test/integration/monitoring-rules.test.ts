/**
 * The generated rules against real promtool (Debian `prometheus`): every group parses, and
 * unit tests on synthetic series show which alerts fire, and when. Series are laid out so the
 * window ratios are known in advance (e.g. 20 % errors for 70 minutes after 3 healthy days);
 * the comments give the arithmetic each expectation rests on.
 */
import { describe, expect, it } from 'vitest';
import { checkRuleGroups, counterSeries, gaugeSeries, testRuleGroups, withoutAnnotations, type RuleTest } from '../../monitoring/promtool.js';
import { ALERTS, buildRuleGroups, burnRate, BURN_RATE_WINDOWS, runbookUrl } from '../../monitoring/rules.js';
import { loadEnvironment } from '@expense-tracker/model/environment';
import type { MonitoredTopology } from '../../monitoring/targets.js';

const settings = loadEnvironment('ibm', { imageTag: '1.0.0' }).monitoring;
const topology: MonitoredTopology = {
  environment: 'ibm',
  namespace: 'expense-tracker',
  webReplicas: 2,
  webDeployment: 'expense-web',
  haproxy: { frontend: 'http-in', backends: ['api', 'web'], webBackend: 'web' },
  postgresDatabase: 'expenses',
  postgresVolumeClaims: 'data-postgres-[0-9]+',
  tlsHost: 'expense.example.com',
};
const groups = buildRuleGroups(settings, topology);
const timing = withoutAnnotations(groups);
const NS = 'expense-tracker';

/** Labels of a firing burn-rate alert. */
function burn(slo: 'availability' | 'latency', severity: string, long: string, short: string) {
  return { exp_labels: { severity, slo, namespace: NS, long_window: long, short_window: short } };
}
const page1h = (slo: 'availability' | 'latency') => burn(slo, 'critical', '1h', '5m');
const page6h = (slo: 'availability' | 'latency') => burn(slo, 'critical', '6h', '30m');
const ticket1d = (slo: 'availability' | 'latency') => burn(slo, 'warning', '1d', '2h');
const ticket3d = (slo: 'availability' | 'latency') => burn(slo, 'warning', '3d', '6h');

const DAY = 1440; // samples per day at a 1m interval
const haproxy = (proxy: string, code: string) => `haproxy_backend_http_responses_total{namespace="${NS}",job="haproxy",proxy="${proxy}",code="${code}"}`;

describe('generated rules (promtool)', () => {
  it('the workbook burn rates follow from a 30-day period', () => {
    expect(BURN_RATE_WINDOWS.map((w) => burnRate(w, 30))).toEqual([14.4, 6, 3, 1]);
    expect(BURN_RATE_WINDOWS.map((w) => burnRate(w, 28))).toEqual([13.44, 5.6, 2.8, 0.933333]);
  });

  it('promtool check rules accepts every group', async () => {
    const result = await checkRuleGroups(groups);
    expect(result.output).toContain('SUCCESS');
    expect(result.ok, result.output).toBe(true);
  });

  it('promtool check rules rejects a broken expression (the check can fail)', async () => {
    const broken = [{ name: 'broken', rules: [{ record: 'x:y', expr: 'sum(rate(foo[5m])' }] }];
    const result = await checkRuleGroups(broken);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/parse error|unclosed/i);
  });

  it('availability: a 20 % error burst pages through 1h/5m, then 6h/30m, and resolves by window', async () => {
    // 3 days at 0.1 % errors (600 responses/min), 70 minutes at 20 %, then healthy again.
    const t0 = 3 * DAY;
    const test: RuleTest = {
      name: 'availability fast burn',
      interval: '1m',
      input_series: [
        { series: haproxy('web', '2xx'), values: counterSeries([[599.4, t0], [480, 70], [599.4, 300]]) },
        { series: haproxy('web', '5xx'), values: counterSeries([[0.6, t0], [120, 70], [0.6, 300]]) },
      ],
      alert_rule_test: [
        // 3 healthy days: nothing.
        { eval_time: `${t0 - 10}m`, alertname: ALERTS.availabilityBurn, exp_alerts: [] },
        // +15m: 1h ratio (15·120 + 45·0.6) / 36000 = 5.1 % < 7.2 % (14.4 × 0.5 %): not yet.
        { eval_time: `${t0 + 15}m`, alertname: ALERTS.availabilityBurn, exp_alerts: [] },
        // +30m: 1h ratio 10 % > 7.2 % and 5m ratio 20 %: page. 6h ratio 1.8 % < 3 %.
        { eval_time: `${t0 + 30}m`, alertname: ALERTS.availabilityBurn, exp_alerts: [page1h('availability')] },
        // +65m: 6h ratio (65·120 + 295·0.6) / 216000 = 3.7 % > 3 %: both pages. 1d 1.0 % < 1.5 %, 3d 0.40 % < 0.5 %: no ticket.
        { eval_time: `${t0 + 65}m`, alertname: ALERTS.availabilityBurn, exp_alerts: [page1h('availability'), page6h('availability')] },
        // 10 minutes after the burst: the 5m window is clean, so 1h/5m resolves although the 1h ratio is still 14 %.
        { eval_time: `${t0 + 80}m`, alertname: ALERTS.availabilityBurn, exp_alerts: [page6h('availability')] },
        // 40 minutes after: the 30m window is clean too.
        { eval_time: `${t0 + 110}m`, alertname: ALERTS.availabilityBurn, exp_alerts: [] },
        { eval_time: `${t0 + 65}m`, alertname: ALERTS.latencyBurn, exp_alerts: [] },
      ],
    };
    // Recording and alerting rules evaluated every 5 minutes (a 1m interval only slows promtool down).
    const result = await testRuleGroups(timing, [test], '5m');
    expect(result.ok, result.output).toBe(true);
  });

  it('availability: a 2 % slow burn opens tickets (3d/6h, then 1d/2h) and never pages', async () => {
    // 3 days at 0.1 %, then 2 % errors (burn rate 4) for a day; the api backend adds clean traffic.
    const t0 = 3 * DAY;
    const test: RuleTest = {
      name: 'availability slow burn',
      interval: '1m',
      input_series: [
        { series: haproxy('web', '2xx'), values: counterSeries([[499.4, t0], [490, DAY]]) },
        { series: haproxy('web', '5xx'), values: counterSeries([[0.6, t0], [12, DAY]]) },
        { series: haproxy('api', '2xx'), values: counterSeries([[100, t0], [98, DAY]]) },
      ],
      alert_rule_test: [
        // +14h: 3d ratio (840·12 + 3480·0.6) / 2592000 = 0.47 % < 0.5 %.
        { eval_time: `${t0 + 14 * 60}m`, alertname: ALERTS.availabilityBurn, exp_alerts: [] },
        // +16h: 3d ratio 0.52 % > 0.5 % and 6h ratio 2 %: ticket. 1d ratio 1.37 % < 1.5 %.
        { eval_time: `${t0 + 16 * 60}m`, alertname: ALERTS.availabilityBurn, exp_alerts: [ticket3d('availability')] },
        // +18h30m: 1d ratio (1110·12 + 330·0.6) / 864000 = 1.56 % > 1.5 %: second ticket. Pages need 7.2 % / 3 %.
        { eval_time: `${t0 + 18 * 60 + 30}m`, alertname: ALERTS.availabilityBurn, exp_alerts: [ticket3d('availability'), ticket1d('availability')] },
      ],
    };
    const result = await testRuleGroups(timing, [test], '5m');
    expect(result.ok, result.output).toBe(true);
  });

  it('latency: slow dashboards page; other routes and 5xx responses do not count', async () => {
    const t0 = 3 * DAY;
    const dash = (status: string) => `{namespace="${NS}",job="expense-web",method="GET",route="/dashboard",status_code="${status}"`;
    const other = `{namespace="${NS}",job="expense-web",method="GET",route="/api/expenses",status_code="200"`;
    const test: RuleTest = {
      name: 'latency fast burn',
      interval: '1m',
      input_series: [
        // /dashboard: 100 requests/min, 0.1 % slower than 0.5 s; then 50 % slow for an hour.
        { series: `http_request_duration_seconds_bucket${dash('200')},le="0.5"}`, values: counterSeries([[99.9, t0], [50, 60]]) },
        { series: `http_request_duration_seconds_count${dash('200')}}`, values: counterSeries([[100, t0], [100, 60]]) },
        // Failed dashboard loads are slow too, but belong to the availability SLO.
        { series: `http_request_duration_seconds_bucket${dash('503')},le="0.5"}`, values: counterSeries([[0, t0 + 60]]) },
        { series: `http_request_duration_seconds_count${dash('503')}}`, values: counterSeries([[5, t0 + 60]]) },
        // A route outside the objective, always slow.
        { series: `http_request_duration_seconds_bucket${other},le="0.5"}`, values: counterSeries([[0, t0 + 60]]) },
        { series: `http_request_duration_seconds_count${other}}`, values: counterSeries([[10, t0 + 60]]) },
      ],
      alert_rule_test: [
        { eval_time: `${t0 - 10}m`, alertname: ALERTS.latencyBurn, exp_alerts: [] },
        // +10m: 1h slow ratio (10·50 + 50·0.1) / 6000 = 8.4 % < 14.4 % (14.4 × 1 %).
        { eval_time: `${t0 + 10}m`, alertname: ALERTS.latencyBurn, exp_alerts: [] },
        // +20m: 1h ratio 16.7 % > 14.4 %, 5m ratio 50 %: page. 6h ratio 2.9 % < 6 %.
        { eval_time: `${t0 + 20}m`, alertname: ALERTS.latencyBurn, exp_alerts: [page1h('latency')] },
      ],
    };
    const result = await testRuleGroups(timing, [test], '5m');
    expect(result.ok, result.output).toBe(true);
  });

  it('cause alerts fire within their for: durations and name the broken part', async () => {
    const a = settings.alerts;
    const minutes = (s: number) => s / 60;
    const up = (job: string, instance: string) => `up{namespace="${NS}",job="${job}",instance="${instance}"}`;
    const q = 4; // samples per minute at 15s
    const GiB = 2 ** 30;
    const volume = (name: string, claim: string) => `${name}{namespace="${NS}",persistentvolumeclaim="${claim}"}`;
    const capacity = (claim: string) => volume('kubelet_volume_stats_capacity_bytes', claim);
    const available = (claim: string) => volume('kubelet_volume_stats_available_bytes', claim);
    const tests: RuleTest[] = [
      {
        name: 'postgres and redis down',
        interval: '15s',
        input_series: [
          // PostgreSQL stops at 5m (first failed scrape at 5m15s).
          { series: `pg_up{namespace="${NS}",job="postgres-exporter",instance="10.0.0.5:9187"}`, values: gaugeSeries([[1, 5 * q + 1], [0, 20 * q]]) },
          { series: `redis_up{namespace="${NS}",job="redis-exporter",instance="10.0.0.6:9121"}`, values: gaugeSeries([[1, 5 * q + 1], [0, 20 * q]]) },
        ],
        alert_rule_test: [
          // Pending for `for` after 5m15s: still silent 15 s before it ends ...
          { eval_time: `${5 * 60 + 15 + a.postgresDownForSeconds - 15}s`, alertname: ALERTS.postgresDown, exp_alerts: [] },
          // ... and firing once it has passed.
          {
            eval_time: `${5 * 60 + 15 + a.postgresDownForSeconds}s`,
            alertname: ALERTS.postgresDown,
            exp_alerts: [{ exp_labels: { severity: 'critical', namespace: NS, job: 'postgres-exporter', instance: '10.0.0.5:9187' } }],
          },
          { eval_time: `${5 * 60 + 15 + a.redisDownForSeconds - 15}s`, alertname: ALERTS.redisDown, exp_alerts: [] },
          {
            eval_time: `${5 * 60 + 15 + a.redisDownForSeconds}s`,
            alertname: ALERTS.redisDown,
            exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS, job: 'redis-exporter', instance: '10.0.0.6:9121' } }],
          },
        ],
      },
      {
        name: 'targets down or missing',
        interval: '15s',
        input_series: [
          { series: up('expense-web', '10.0.1.1:8080'), values: gaugeSeries([[1, 20 * q]]) },
          { series: up('expense-web', '10.0.1.2:8080'), values: gaugeSeries([[1, 2 * q + 1], [0, 18 * q]]) },
          { series: up('postgres-exporter', '10.0.0.5:9187'), values: gaugeSeries([[1, 20 * q]]) },
          { series: up('redis-exporter', '10.0.0.6:9121'), values: gaugeSeries([[1, 20 * q]]) },
          // No haproxy target at all.
        ],
        alert_rule_test: [
          { eval_time: `${2 * 60 + 15 + a.targetDownForSeconds - 15}s`, alertname: ALERTS.targetDown, exp_alerts: [] },
          {
            eval_time: `${2 * 60 + 15 + a.targetDownForSeconds}s`,
            alertname: ALERTS.targetDown,
            exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS, job: 'expense-web', instance: '10.0.1.2:8080' } }],
          },
          { eval_time: `${a.targetDownForSeconds - 15}s`, alertname: ALERTS.targetMissing, exp_alerts: [] },
          {
            eval_time: `${a.targetDownForSeconds}s`,
            alertname: ALERTS.targetMissing,
            exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS, job: 'haproxy' } }],
          },
        ],
      },
      {
        name: 'web replicas out of rotation',
        interval: '15s',
        input_series: [
          // Two HAProxy pods; at 2m one web pod fails readiness. Pod b sees it back at 20m.
          { series: `haproxy_backend_active_servers{namespace="${NS}",job="haproxy",instance="a",proxy="web"}`, values: gaugeSeries([[2, 2 * q + 1], [1, 28 * q]]) },
          { series: `haproxy_backend_active_servers{namespace="${NS}",job="haproxy",instance="b",proxy="web"}`, values: gaugeSeries([[2, 2 * q + 1], [1, 18 * q], [2, 10 * q]]) },
          // The api backend has the same servers; only `web` counts.
          { series: `haproxy_backend_active_servers{namespace="${NS}",job="haproxy",instance="a",proxy="api"}`, values: gaugeSeries([[0, 30 * q]]) },
        ],
        alert_rule_test: [
          { eval_time: `${2 * 60 + 15 + a.webReplicasUnavailableForSeconds - 15}s`, alertname: ALERTS.webReplicasUnavailable, exp_alerts: [] },
          {
            eval_time: `${2 * 60 + 15 + a.webReplicasUnavailableForSeconds}s`,
            alertname: ALERTS.webReplicasUnavailable,
            exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS } }],
          },
          // At 20m HAProxy b has both replicas again: max over HAProxy pods is back to 2.
          { eval_time: '21m', alertname: ALERTS.webReplicasUnavailable, exp_alerts: [] },
        ],
      },
      {
        name: 'postgres volume',
        interval: '15s',
        input_series: [
          // data-postgres-0: 10 GiB with 10 % free, steady. redis-data is nearly full but not PostgreSQL's.
          { series: capacity('data-postgres-0'), values: gaugeSeries([[10 * GiB, 90 * q]]) },
          { series: available('data-postgres-0'), values: gaugeSeries([[GiB, 90 * q]]) },
          { series: capacity('redis-data'), values: gaugeSeries([[10 * GiB, 90 * q]]) },
          { series: available('redis-data'), values: gaugeSeries([[2 ** 20, 90 * q]]) },
          // data-postgres-1 loses 1 GiB per hour from 4 GiB free: empty in 4 h, well within the horizon.
          { series: capacity('data-postgres-1'), values: gaugeSeries([[10 * GiB, 90 * q]]) },
          { series: available('data-postgres-1'), values: `${4 * GiB}-${GiB / 240}x${90 * q}` },
          // data-postgres-2 shrinks as fast but is mostly empty (80 % free): a step, not yet a concern.
          { series: capacity('data-postgres-2'), values: gaugeSeries([[10 * GiB, 90 * q]]) },
          { series: available('data-postgres-2'), values: `${8 * GiB}-${GiB / 240}x${90 * q}` },
        ],
        alert_rule_test: [
          { eval_time: '4m45s', alertname: ALERTS.postgresVolumeLow, exp_alerts: [] },
          {
            eval_time: '5m',
            alertname: ALERTS.postgresVolumeLow,
            exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS, persistentvolumeclaim: 'data-postgres-0' } }],
          },
          { eval_time: '55m', alertname: ALERTS.postgresVolumeFillingUp, exp_alerts: [] },
          {
            eval_time: '65m',
            alertname: ALERTS.postgresVolumeFillingUp,
            exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS, persistentvolumeclaim: 'data-postgres-1' } }],
          },
        ],
      },
      {
        name: 'certificate expiry',
        interval: '1m',
        input_series: [
          // Expiry timestamps relative to the test clock (which starts at 0): 10 days and 60 days.
          { series: `probe_ssl_earliest_cert_expiry{namespace="${NS}",job="ingress-tls",instance="https://expense.example.com"}`, values: gaugeSeries([[10 * 86_400, 120]]) },
          { series: `probe_ssl_earliest_cert_expiry{namespace="${NS}",job="ingress-tls",instance="https://other.example.com"}`, values: gaugeSeries([[60 * 86_400, 120]]) },
        ],
        alert_rule_test: [
          { eval_time: '59m', alertname: ALERTS.certificateExpiresSoon, exp_alerts: [] },
          {
            eval_time: '61m',
            alertname: ALERTS.certificateExpiresSoon,
            exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS, job: 'ingress-tls', instance: 'https://expense.example.com' } }],
          },
        ],
      },
      {
        name: 'budget emails failing',
        interval: '1m',
        input_series: [
          // One failed send per minute from 2m; the first success at 40m.
          { series: `budget_alerts_total{namespace="${NS}",job="expense-web",instance="a",result="failed"}`, values: counterSeries([[0, 2], [1, 60]]) },
          { series: `budget_alerts_total{namespace="${NS}",job="expense-web",instance="a",result="sent"}`, values: counterSeries([[0, 40], [1, 22]]) },
        ],
        alert_rule_test: [
          { eval_time: '1m', alertname: ALERTS.budgetEmailsFailing, exp_alerts: [] },
          { eval_time: '5m', alertname: ALERTS.budgetEmailsFailing, exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS } }] },
          { eval_time: '42m', alertname: ALERTS.budgetEmailsFailing, exp_alerts: [] },
        ],
      },
    ];
    expect(minutes(a.postgresDownForSeconds)).toBeGreaterThan(0);
    const result = await testRuleGroups(timing, tests, '15s');
    expect(result.ok, result.output).toBe(true);
  });

  it('a Patroni cluster with backups: replication lag and backup age alerts fire on time', async () => {
    const a = settings.alerts;
    const ha = withoutAnnotations(buildRuleGroups(settings, { ...topology, patroni: { scope: 'postgres' }, backupCronJobs: ['postgres-backup-full', 'postgres-backup-diff'] }));
    const MiB = 2 ** 20;
    const q = 4; // samples per minute at 15s
    const member = (metric: string, name: string) => `${metric}{namespace="${NS}",job="patroni",instance="${name}:8008",scope="postgres",name="${name}"}`;
    // The primary flushes 1 MiB of WAL per minute; postgres-1 replays in step, postgres-2 stops replaying at 10m.
    const wal = `0+${MiB / q}x${60 * q}`;
    const stalled = `0+${MiB / q}x${10 * q} ${10 * MiB}x${50 * q}`;
    const lagTest: RuleTest = {
      name: 'replication lag',
      interval: '15s',
      input_series: [
        { series: member('patroni_xlog_location', 'postgres-0'), values: wal },
        { series: member('patroni_xlog_replayed_location', 'postgres-0'), values: gaugeSeries([[0, 60 * q]]) },
        { series: member('patroni_replica', 'postgres-0'), values: gaugeSeries([[0, 60 * q]]) },
        { series: member('patroni_xlog_location', 'postgres-1'), values: gaugeSeries([[0, 60 * q]]) },
        { series: member('patroni_xlog_replayed_location', 'postgres-1'), values: wal },
        { series: member('patroni_replica', 'postgres-1'), values: gaugeSeries([[1, 60 * q]]) },
        { series: member('patroni_xlog_location', 'postgres-2'), values: gaugeSeries([[0, 60 * q]]) },
        { series: member('patroni_xlog_replayed_location', 'postgres-2'), values: stalled },
        { series: member('patroni_replica', 'postgres-2'), values: gaugeSeries([[1, 60 * q]]) },
      ],
      alert_rule_test: [
        // 16 MiB behind at 26m, more than that from 26m15s; firing once the for: has passed.
        { eval_time: `${(26 * 60 + 15 + a.postgresReplicationLagForSeconds) - 15}s`, alertname: ALERTS.postgresReplicationLag, exp_alerts: [] },
        {
          eval_time: `${26 * 60 + 15 + a.postgresReplicationLagForSeconds}s`,
          alertname: ALERTS.postgresReplicationLag,
          exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS, job: 'patroni', instance: 'postgres-2:8008', scope: 'postgres', name: 'postgres-2' } }],
        },
      ],
    };
    expect(a.postgresReplicationLagBytes).toBe(16 * MiB);
    const H = 60; // samples per hour at 1m
    const maxAge = a.postgresBackupMaxAgeHours;
    const cronjob = (metric: string, name: string) => `${metric}{namespace="${NS}",job="kube-state-metrics",cronjob="${name}"}`;
    const backupTest: RuleTest = {
      name: 'backup age',
      interval: '1m',
      input_series: [
        // Both backup CronJobs created at 0; only the diff backup ever succeeds, once, at 2h.
        { series: cronjob('kube_cronjob_created', 'postgres-backup-full'), values: gaugeSeries([[0, (maxAge + 4) * H]]) },
        { series: cronjob('kube_cronjob_created', 'postgres-backup-diff'), values: gaugeSeries([[0, (maxAge + 4) * H]]) },
        { series: cronjob('kube_cronjob_status_last_successful_time', 'postgres-backup-diff'), values: `_x${2 * H} ${gaugeSeries([[7200, (maxAge + 2) * H]])}` },
        // Another CronJob of the namespace succeeding every minute does not count.
        { series: cronjob('kube_cronjob_status_last_successful_time', 'import-cleanup'), values: `0+60x${(maxAge + 4) * H}` },
      ],
      alert_rule_test: [
        { eval_time: `${maxAge + 2}h`, alertname: ALERTS.postgresBackupTooOld, exp_alerts: [] },
        // maxAge hours after the last success (2h), plus one evaluation.
        { eval_time: `${(maxAge + 2) * 60 + 1}m`, alertname: ALERTS.postgresBackupTooOld, exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS } }] },
      ],
    };
    const neverTest: RuleTest = {
      name: 'backups never succeeded',
      interval: '1m',
      input_series: [{ series: cronjob('kube_cronjob_created', 'postgres-backup-full'), values: gaugeSeries([[0, (maxAge + 1) * H]]) }],
      alert_rule_test: [
        { eval_time: `${maxAge}h`, alertname: ALERTS.postgresBackupTooOld, exp_alerts: [] },
        { eval_time: `${maxAge * 60 + 1}m`, alertname: ALERTS.postgresBackupTooOld, exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS } }] },
      ],
    };
    // postgres_exporter follows the leader (Service postgres) and stays up while replica
    // postgres-1's PostgreSQL stops at 5m (first scrape reporting it at 5m15s): the member's own
    // Patroni report raises ExpensePostgresDown for that member only, as a warning.
    const memberDownTest: RuleTest = {
      name: 'a replica\'s PostgreSQL down',
      interval: '15s',
      input_series: [
        { series: `pg_up{namespace="${NS}",job="postgres-exporter",instance="10.0.0.5:9187"}`, values: gaugeSeries([[1, 20 * q]]) },
        { series: member('patroni_postgres_running', 'postgres-0'), values: gaugeSeries([[1, 20 * q]]) },
        { series: member('patroni_postgres_running', 'postgres-1'), values: gaugeSeries([[1, 5 * q + 1], [0, 15 * q]]) },
        { series: member('patroni_postgres_running', 'postgres-2'), values: gaugeSeries([[1, 20 * q]]) },
      ],
      alert_rule_test: [
        { eval_time: `${5 * 60 + 15 + a.postgresDownForSeconds - 15}s`, alertname: ALERTS.postgresDown, exp_alerts: [] },
        {
          eval_time: `${5 * 60 + 15 + a.postgresDownForSeconds}s`,
          alertname: ALERTS.postgresDown,
          exp_alerts: [{ exp_labels: { severity: 'warning', namespace: NS, job: 'patroni', instance: 'postgres-1:8008', scope: 'postgres', name: 'postgres-1' } }],
        },
      ],
    };
    const result = await testRuleGroups(ha, [lagTest, memberDownTest], '15s');
    expect(result.ok, result.output).toBe(true);
    // Without Patroni, a member report does not exist and pg_up alone decides.
    expect(groups.flatMap((g) => g.rules).filter((r) => 'alert' in r && r.alert === ALERTS.postgresDown).map((r) => r.expr)).toEqual([expect.stringMatching(/^pg_up\{/)]);
    const backups = await testRuleGroups(ha, [backupTest, neverTest], '1m');
    expect(backups.ok, backups.output).toBe(true);
    // Without Patroni and backups the rules are not generated at all.
    expect(groups.flatMap((g) => g.rules).some((r) => 'alert' in r && (r.alert === ALERTS.postgresReplicationLag || r.alert === ALERTS.postgresBackupTooOld))).toBe(false);
  });

  it('annotations render with the values and links a person at 3 a.m. needs', async () => {
    const test: RuleTest = {
      name: 'annotations',
      interval: '15s',
      input_series: [{ series: `pg_up{namespace="${NS}",job="postgres-exporter",instance="10.0.0.5:9187"}`, values: gaugeSeries([[0, 40]]) }],
      alert_rule_test: [
        {
          eval_time: '5m',
          alertname: ALERTS.postgresDown,
          exp_alerts: [
            {
              exp_labels: { severity: 'critical', namespace: NS, job: 'postgres-exporter', instance: '10.0.0.5:9187' },
              exp_annotations: {
                summary: 'PostgreSQL is down: the app cannot read or write expenses.',
                description: `postgres_exporter has not been able to connect to PostgreSQL in ${NS} for 1m.`,
                runbook_url: runbookUrl(settings, ALERTS.postgresDown),
              },
            },
          ],
        },
      ],
    };
    const result = await testRuleGroups(groups, [test], '15s');
    expect(result.ok, result.output).toBe(true);
  });

  it('a wrong expectation fails (the harness can fail)', async () => {
    const test: RuleTest = {
      name: 'must fail',
      interval: '15s',
      input_series: [{ series: `pg_up{namespace="${NS}",job="postgres-exporter",instance="x"}`, values: gaugeSeries([[1, 40]]) }],
      alert_rule_test: [{ eval_time: '5m', alertname: ALERTS.postgresDown, exp_alerts: [{ exp_labels: { severity: 'critical', namespace: NS, job: 'postgres-exporter', instance: 'x' } }] }],
    };
    const result = await testRuleGroups(timing, [test], '15s');
    expect(result.ok).toBe(false);
    expect(result.output).toContain(ALERTS.postgresDown);
  });
});
