/**
 * The `monitoring` section of the environment schema: whether the charts carry Prometheus
 * Operator objects and Grafana dashboards, the service level objectives, and the thresholds of the
 * cause alerts (monitoring/rules.ts turns them into rules; docs/observability.md explains them).
 * Durations are whole seconds, ratios are percentages.
 */
import { z } from 'zod';
import { HTTP_DURATION_BUCKETS_SECONDS } from './app-contract.js';
import { DNS_LABEL } from './naming.js';

/** Kubernetes label key: optional DNS-subdomain prefix, then a name of at most 63 characters. */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** Kubernetes label value: empty, or at most 63 characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends. */
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
/** A Fastify route pattern as the app labels it (`route="/api/expenses/:id"`). */
const ROUTE_PATTERN = /^\/[A-Za-z0-9_\-/:.*]*$/;

const seconds = (min: number, max: number) =>
  z.number().int('must be a whole number of seconds').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
const percent = (min: number, max: number) =>
  z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
const labels = z.record(
  z.string().regex(LABEL_KEY, 'must be a label key'),
  z.string().regex(LABEL_VALUE, 'must be a label value'),
);

/**
 * An objective over the SLO period, as a percentage of good events (e.g. `99.5`). Below 90 the
 * burn-rate thresholds of the fast windows exceed 100 % errors and could never fire; above
 * 99.99 a 5-minute window has too few events to tell a burn from noise at this app's traffic.
 */
const objectivePercent = percent(90, 99.99).refine((v) => Number.isInteger(v * 1000), 'must have at most 3 decimals');

export const monitoringSchema = z
  .strictObject({
    /**
     * Synthesize the Prometheus Operator objects (PodMonitor, ServiceMonitors, PrometheusRule),
     * the exporters and the Grafana dashboard ConfigMaps. Needs the operator's CRDs in the cluster.
     */
    enabled: z.boolean(),
    prometheus: z.strictObject({
      /** Namespace Prometheus runs in; its pods are allowed to every metrics port by NetworkPolicy. */
      namespace: z.string().regex(DNS_LABEL, 'must be a DNS label'),
      /**
       * Labels put on every monitor and rule object so the `Prometheus` resource selects them
       * (`serviceMonitorSelector`, `podMonitorSelector`, `ruleSelector`; kube-prometheus-stack
       * selects `release: <helm release>`).
       */
      selectorLabels: labels,
      /** Seconds between scrapes of every target (monitor `interval`, local scrape config). */
      scrapeIntervalSeconds: seconds(5, 300),
    }),
    grafana: z.strictObject({
      /** Label the Grafana dashboard sidecar watches (kube-prometheus-stack: `grafana_dashboard: "1"`). */
      dashboardLabel: z.strictObject({
        key: z.string().regex(LABEL_KEY, 'must be a label key'),
        value: z.string().regex(LABEL_VALUE, 'must be a label value'),
      }),
      /** Grafana folder the sidecar files the dashboards into (annotation `grafana_folder`). */
      folder: z.string().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
    }),
    /**
     * Base URL of `docs/runbooks.md` as people open it (a repository browser); every alert's
     * `runbook_url` is this plus `#<section>`.
     */
    runbookBaseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).refine((u) => !u.includes('#'), 'must not contain a #fragment'),
    slo: z.strictObject({
      /** Days the objectives are measured over (the error budget period; the SRE workbook uses 30). */
      periodDays: z.number().int('must be a whole number of days').min(7, 'must be at least 7').max(90, 'must be at most 90'),
      /** Share of HTTP requests at the HAProxy frontend answered without a 5xx. */
      availability: z.strictObject({ objectivePercent }),
      /** Share of successful page/API requests to `routes` served within `thresholdSeconds`. */
      latency: z.strictObject({
        objectivePercent,
        /**
         * Latency bound in seconds; must be a bucket boundary of the app's
         * `http_request_duration_seconds` histogram (`HTTP_DURATION_BUCKETS_SECONDS`, app-contract.ts).
         */
        thresholdSeconds: z.number().positive('must be positive'),
        /** Route patterns (GET) the objective covers, as the app labels them. */
        routes: z.array(z.string().regex(ROUTE_PATTERN, 'must be a route pattern such as "/dashboard"')).min(1, 'must name at least one route'),
      }),
    }),
    alerts: z.strictObject({
      /** Seconds a scrape target may stay down (`up == 0`) before `ExpenseTargetDown`. */
      targetDownForSeconds: seconds(60, 3600),
      /** Seconds fewer web replicas than desired may be in rotation before `ExpenseWebReplicasUnavailable`. */
      webReplicasUnavailableForSeconds: seconds(60, 3600),
      /** Seconds PostgreSQL may be unreachable before `ExpensePostgresDown`. */
      postgresDownForSeconds: seconds(0, 3600),
      /** Seconds Redis may be unreachable before `ExpenseRedisDown`. */
      redisDownForSeconds: seconds(0, 3600),
      /** `ExpensePostgresVolumeLow` fires below this free share of the data volume. */
      postgresVolumeFreePercent: percent(1, 50),
      /** `ExpensePostgresVolumeFillingUp` fires when the trend of the last 6 h fills the volume within this many hours. */
      postgresVolumeFullWithinHours: z.number().int('must be a whole number of hours').min(6, 'must be at least 6').max(24 * 30, 'must be at most 720'),
      /** `ExpenseCertificateExpiresSoon` fires this many days before the Ingress certificate expires (TLS only). */
      certificateExpiryDays: z.number().int('must be a whole number of days').min(1, 'must be at least 1').max(90, 'must be at most 90'),
      /** Seconds budget alert emails may fail without one success before `ExpenseBudgetEmailsFailing`. */
      mailFailingForSeconds: seconds(300, 24 * 3600),
      /**
       * Bytes of WAL a Patroni replica may be behind its primary (replayed, not just received)
       * before `ExpensePostgresReplicationLag` (`postgres.mode: ha`).
       */
      postgresReplicationLagBytes: z.number().int('must be a whole number of bytes').min(1_048_576, 'must be at least 1048576 (1 MiB)'),
      /** Seconds the replication lag must stay above `postgresReplicationLagBytes` before the alert fires. */
      postgresReplicationLagForSeconds: seconds(60, 3600),
      /**
       * Hours since the last successful scheduled backup (any of the backup CronJobs) before
       * `ExpensePostgresBackupTooOld`; longer than the gap between two scheduled backups.
       */
      postgresBackupMaxAgeHours: z.number().int('must be a whole number of hours').min(2, 'must be at least 2').max(24 * 14, 'must be at most 336'),
    }),
    /** Blackbox exporter (`host:port`) that probes the Ingress host for certificate expiry when TLS is on. */
    blackboxExporterAddress: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[0-9]{1,5}$/, 'must be host:port'),
  })
  .superRefine((m, ctx) => {
    if (!HTTP_DURATION_BUCKETS_SECONDS.includes(m.slo.latency.thresholdSeconds)) {
      ctx.addIssue({
        code: 'custom',
        path: ['slo', 'latency', 'thresholdSeconds'],
        message: `must be a bucket boundary of http_request_duration_seconds (${HTTP_DURATION_BUCKETS_SECONDS.join(', ')})`,
      });
    }
  });

/** Validated monitoring settings of one environment. */
export type MonitoringSettings = z.infer<typeof monitoringSchema>;

/**
 * The Prometheus Operator release the charts' monitor and rule classes are generated from
 * (`npm run import:crds`) and the real-node cluster tier runs: its Go module (the module zip
 * carries the CRD manifests and RBAC examples) and tag.
 */
export const PROMETHEUS_OPERATOR = { module: 'github.com/prometheus-operator/prometheus-operator', version: 'v0.85.0' } as const;

