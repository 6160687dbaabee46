/**
 * A real Prometheus (Debian) scrapes `npm run local`'s topology on loopback (two app instances
 * behind HAProxy, PostgreSQL, Redis) plus the real postgres_exporter and redis_exporter, with the
 * scrape config and rules generated from the `local` environment: every target is up, a load run
 * moves the app's and HAProxy's request metrics, the SLO recordings follow, every metric the
 * rules and dashboards read is one the processes really expose, PostgreSQL's outage fires its
 * alert within `for:`, and an outage of every web instance fires the fast burn-rate page.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { startPostgres, startRedis, type PostgresServer, type RedisServer } from '@expense-tracker/testkit/servers/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, expense } from '../../app/test/harness.js';
import { synthesize } from '../../charts/synthesize.js';
import { buildDashboards, dashboardExpressions } from '../../monitoring/dashboards/index.js';
import { startLocalMonitoring, type LocalMonitoring } from '../../monitoring/local-stack.js';
import { metricNames } from '../../monitoring/promql-names.js';
import { ALERTS, alertingRules, buildRuleGroups } from '../../monitoring/rules.js';
import { startLocalTopology, type LocalTopology } from '../../scripts/local/topology.js';

/**
 * Metrics only a cluster has (kubelet volume statistics, kube-state-metrics, the blackbox
 * exporter's TLS probe); checked against the real-node cluster's scrape instead.
 */
const CLUSTER_ONLY = [
  // kube-state-metrics of the backup CronJobs and Patroni's own metrics: only postgres.mode ha with
  // backups has them (the local topology runs a single PostgreSQL without backups).
  'kube_cronjob_created',
  'kube_cronjob_status_last_successful_time',
  'kube_deployment_spec_replicas',
  'kube_deployment_status_replicas_available',
  'kubelet_volume_stats_available_bytes',
  'kubelet_volume_stats_capacity_bytes',
  'patroni_postgres_running',
  'patroni_replica',
  'patroni_xlog_location',
  'patroni_xlog_replayed_location',
  'probe_ssl_earliest_cert_expiry',
];
const SCRAPE_SECONDS = 2;

// The local environment with a short PostgreSQL `for:` so the outage test stays quick.
const env = loadEnvironment('local', { imageTag: '1.0.0', set: ['monitoring.alerts.postgresDownForSeconds=10'] });
const settings = env.monitoring;
const topologyModel = synthesize(env).topology;

describe('a real Prometheus scraping the local topology', () => {
  let work: string;
  let pg: PostgresServer;
  let redis: RedisServer;
  let local: LocalTopology;
  let prom: LocalMonitoring;
  const value = async (expr: string) => (await prom.query(expr)).reduce((sum, r) => sum + r.value, 0);
  const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  /** Waits for two more scrapes and one more rule evaluation. */
  const settle = () => new Promise((r) => setTimeout(r, (2 * SCRAPE_SECONDS + 1) * 1000));

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'monitoring-local-'));
    pg = await startPostgres();
    const databaseUrl = await pg.createDatabase(env.postgres.database);
    const password = 'monitoring-test-redis';
    redis = await startRedis({ password });
    local = await startLocalTopology({
      environment: env,
      instances: env.web.replicas,
      workDir: join(work, 'haproxy'),
      postgres: { kind: 'external', url: databaseUrl },
      redis: { url: redis.url, password },
      healthCheck: { intervalSeconds: 1, fall: 2, rise: 1 },
    });
    prom = await startLocalMonitoring({
      environment: env,
      settings,
      topology: topologyModel,
      web: local.instances.map((i) => `127.0.0.1:${i.metricsPort}`),
      haproxy: new URL(local.haproxy.statsUrl).host,
      databaseUrl,
      redis: { url: redis.url, password },
      workDir: join(work, 'prometheus'),
      scrapeIntervalSeconds: SCRAPE_SECONDS,
    });
  }, 180_000);

  afterAll(async () => {
    await prom?.stop();
    await local?.stop();
    await redis?.destroy();
    await pg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('scrapes every target of the generated config', async () => {
    expect(prom.config).toContain('job_name: expense-web');
    await until('every target up', async () => {
      const t = await prom.targets();
      return t.length === env.web.replicas + 3 && t.every((x) => x.health === 'up');
    });
    const byJob = (await prom.targets()).reduce<Record<string, number>>((acc, t) => ({ ...acc, [t.job]: (acc[t.job] ?? 0) + 1 }), {});
    expect(byJob).toEqual({ 'expense-web': env.web.replicas, haproxy: 1, 'postgres-exporter': 1, 'redis-exporter': 1 });
    expect(await value('min(pg_up{namespace="expense-tracker",job="postgres-exporter"})')).toBe(1);
    expect(await value('min(redis_up{namespace="expense-tracker",job="redis-exporter"})')).toBe(1);
  });

  it('a load run moves the app request metrics and HAProxy backend metrics', async () => {
    const appRequests = 'sum(http_request_duration_seconds_count{namespace="expense-tracker",job="expense-web",route="/dashboard"})';
    const webBackend = 'sum(haproxy_backend_http_requests_total{namespace="expense-tracker",job="haproxy",proxy="web"})';
    const apiBackend = 'sum(haproxy_backend_http_requests_total{namespace="expense-tracker",job="haproxy",proxy="api"})';
    const before = { app: await value(appRequests), web: await value(webBackend), api: await value(apiBackend) };

    const user = new Client(local.url);
    await user.signUp('monitoring@example.com');
    for (let i = 0; i < 5; i++) expect((await user.request('POST', '/api/expenses', { json: expense({ date: new Date().toISOString().slice(0, 10) }) })).status).toBe(201);
    const cookie = [...user.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    // rate() sees only increases between two scrapes of a series: the dashboard's series must be
    // scraped before the run, or a run shorter than a scrape interval shows no rate at all.
    expect((await user.request('GET', '/dashboard')).status).toBe(200);
    await until('the dashboard request series scraped', async () => (await value(appRequests)) > before.app);
    const result = await autocannon({ url: `${local.url}/dashboard`, headers: { cookie }, connections: 4, amount: 400 });
    expect(result.non2xx).toBe(0);
    expect(result.errors).toBe(0);
    await settle();

    const after = { app: await value(appRequests), web: await value(webBackend), api: await value(apiBackend) };
    expect(after.app - before.app).toBeGreaterThanOrEqual(400);
    expect(after.web - before.web).toBeGreaterThanOrEqual(400);
    expect(after.api - before.api).toBeGreaterThanOrEqual(5);
    // Both web instances took their share (HAProxy balances).
    const perInstance = await prom.query('sum by (instance) (http_request_duration_seconds_count{job="expense-web",route="/dashboard"})');
    expect(perInstance.length).toBe(env.web.replicas);
    for (const r of perInstance) expect(r.value).toBeGreaterThan(50);
    // The latency objective's bucket is a real bucket of the histogram.
    expect((await prom.query(`http_request_duration_seconds_bucket{route="/dashboard",le="${settings.slo.latency.thresholdSeconds}"}`)).length).toBeGreaterThan(0);
    // The SLO recordings follow: nothing failed; the latency error ratio is a ratio.
    await until('SLO recordings', async () => (await prom.query('slo:sli_error:ratio_rate5m')).length === 2);
    expect(await value('slo:sli_error:ratio_rate5m{slo="availability"}')).toBe(0);
    // A recording evaluated before the run's requests reached its rate window is 0/0 = NaN; the
    // ratio is read once an evaluation has seen them.
    await until('the latency SLI over the run', async () => !Number.isNaN(await value('slo:sli_error:ratio_rate5m{slo="latency"}')));
    const slow = await value('slo:sli_error:ratio_rate5m{slo="latency"}');
    expect(slow).toBeGreaterThanOrEqual(0);
    expect(slow).toBeLessThanOrEqual(1);
    // The cache in front of the dashboard was used.
    expect(await value('sum(summary_cache_requests_total{result="hit"})')).toBeGreaterThan(0);
  });

  it('every metric the rules and dashboards read is exposed by a real scrape', async () => {
    const recorded = new Set(prom.ruleGroups.flatMap((g) => g.rules.flatMap((r) => ('record' in r ? [r.record] : []))));
    const expressions = [
      ...prom.ruleGroups.flatMap((g) => g.rules.map((r) => r.expr)),
      ...buildDashboards(settings, topologyModel).flatMap((d) => dashboardExpressions(d.dashboard)),
      // The rules of an environment with TLS and without HAProxy use the cluster-only sources.
      ...alertingRules(buildRulesFor(['ingress.tlsSecretName=expense-tls', 'haproxy.enabled=false'])).map((r) => r.expr),
    ];
    const referenced = new Set(expressions.flatMap(metricNames).filter((n) => !recorded.has(n)));
    const { series, metadata } = await prom.metricNames();
    // A family with no sample yet (e.g. budget_alerts_total before any email) is exposed by its HELP/TYPE.
    const family = (n: string) => n.replace(/_(bucket|count|sum)$/, '');
    const missing = [...referenced].filter((n) => !series.has(n) && !metadata.has(n) && !metadata.has(family(n))).sort();
    expect(missing).toEqual(CLUSTER_ONLY);
    expect(referenced.size).toBeGreaterThan(40);
  });

  it("PostgreSQL's outage fires ExpensePostgresDown within its for:, and it resolves", async () => {
    const forSeconds = settings.alerts.postgresDownForSeconds;
    await pg.pause();
    const stoppedAt = Date.now();
    try {
      await until('pg_up 0', async () => (await value('min(pg_up{job="postgres-exporter"})')) === 0, 30_000);
      await until(`${ALERTS.postgresDown} firing`, async () => (await prom.alerts()).some((a) => a.labels.alertname === ALERTS.postgresDown && a.state === 'firing'), 60_000);
      const seconds = (Date.now() - stoppedAt) / 1000;
      // for: plus at most two scrapes, one evaluation and our polling.
      expect(seconds).toBeGreaterThanOrEqual(forSeconds);
      expect(seconds).toBeLessThan(forSeconds + 3 * SCRAPE_SECONDS + 5);
      const firing = (await prom.alerts()).find((a) => a.labels.alertname === ALERTS.postgresDown)!;
      expect(firing.labels).toMatchObject({ severity: 'critical', namespace: 'expense-tracker', job: 'postgres-exporter' });
    } finally {
      await pg.resume();
    }
    await until(`${ALERTS.postgresDown} resolved`, async () => !(await prom.alerts()).some((a) => a.labels.alertname === ALERTS.postgresDown), 60_000);
  });

  it('every web instance down: HAProxy answers 503 and the fast burn-rate page fires', async () => {
    for (const i of local.instances) await i.stop('SIGTERM');
    try {
      await until('HAProxy sees no web server', async () => (await value('max(haproxy_backend_active_servers{proxy="web"})')) === 0, 30_000);
      const result = await autocannon({ url: `${local.url}/`, connections: 4, amount: 3000 });
      expect(result['5xx']).toBe(3000);
      await settle();
      await until(
        'availability burn alert (1h/5m)',
        async () =>
          (await prom.alerts()).some((a) => a.labels.alertname === ALERTS.availabilityBurn && a.labels.long_window === '1h' && a.labels.severity === 'critical' && a.state === 'firing'),
        30_000,
      );
    } finally {
      await Promise.all(local.instances.map((i) => i.start()));
    }
  });
});

/** The rule groups of `ibm` with `--set` overrides. */
function buildRulesFor(set: string[]) {
  return buildRuleGroups(settings, synthesize(loadEnvironment('ibm', { imageTag: '1.0.0', set })).topology);
}
