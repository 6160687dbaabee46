/**
 * What Prometheus scrapes and how the series are labelled, shared by the Kubernetes monitors,
 * the local scrape config, the rules and the dashboards. Every target gets an explicit `job`
 * (the monitors relabel it, the local config names it), so expressions never depend on the
 * operator's default job naming, and every series carries `namespace`.
 */
import { POSTGRES_EXPORTER, REDIS_EXPORTER, WEB } from '@expense-tracker/model/components';

/** `job` label of each scrape target. */
export const JOBS = {
  /** The app's own `/metrics` (prom-client), one target per web pod. */
  web: WEB.name,
  /** HAProxy's Prometheus exporter on the stats port, one target per HAProxy pod. */
  haproxy: 'haproxy',
  /** postgres_exporter in front of the `postgres` Service. */
  postgres: POSTGRES_EXPORTER.name,
  /** redis_exporter in front of the `redis` Service. */
  redis: REDIS_EXPORTER.name,
  /** Blackbox exporter probe of the Ingress host (TLS certificate expiry). */
  tls: 'ingress-tls',
  /** Patroni's REST API `/metrics`, one target per member (`postgres.mode: ha`). */
  patroni: 'patroni',
} as const;
export type JobName = (typeof JOBS)[keyof typeof JOBS];

/** Path of every exporter's metrics endpoint. */
export const EXPORTER_METRICS_PATH = '/metrics';
/** Path of Patroni's metrics on its REST API (https://patroni.readthedocs.io/en/latest/rest_api.html#monitoring-endpoint). */
export const PATRONI_METRICS_PATH = '/metrics';

/**
 * The `sh` script that turns the Secret's plain password file into the JSON map
 * `{"<redis address>":"<password>"}` redis_exporter's `--redis.password-file` reads (the exporter
 * looks the password up by the exact `REDIS_ADDR`). `\` and `"` are escaped; a password with
 * control characters (a tab) makes the map invalid JSON, which the exporter refuses at start, loudly.
 * A trailing newline of the file is dropped, as for `requirepass` (charts/redis.ts). The map is
 * created 0600 for the exporter's UID, which the init container runs as too. The chart's
 * redis_exporter init container and the local monitoring stack both run it.
 * @throws Error naming `redisAddress` unless it is `redis://host:port`
 */
export function redisPasswordMapScript(redisAddress: string, passwordFile: string, mapFile: string): string {
  if (!/^redis:\/\/[a-z0-9.-]+:[0-9]+$/.test(redisAddress)) throw new Error(`redisPasswordMapScript: redisAddress: must be redis://host:port, got "${redisAddress}"`);
  return ['set -eu', 'umask 0077', `password="$(sed 's/[\\\\"]/\\\\&/g' ${passwordFile})"`, `printf '{"${redisAddress}":"%s"}' "$password" > ${mapFile}`].join('\n');
}

/**
 * The deployed topology the rules and dashboards describe, derived from an environment by
 * `monitoredTopology()` in `charts/monitoring.ts` (object names stay owned by the constructs) and
 * carried by the synthesized result (`synthesize(env).topology`).
 */
export interface MonitoredTopology {
  /** Environment name (dashboard titles and UIDs). */
  readonly environment: string;
  /** Namespace every series carries. */
  readonly namespace: string;
  /** Desired number of web replicas. */
  readonly webReplicas: number;
  /** `metadata.name` of the web Deployment (kube-state-metrics `deployment` label). */
  readonly webDeployment: string;
  /**
   * HAProxy in front of the web pods: the public frontend's name and the backends (proxies)
   * that carry app traffic; `webBackend` is the one whose active servers count the web replicas.
   * Absent when HAProxy is disabled.
   */
  readonly haproxy?: { readonly frontend: string; readonly backends: readonly string[]; readonly webBackend: string };
  /** Name of the app's PostgreSQL database (postgres_exporter `datname` label). */
  readonly postgresDatabase: string;
  /** RE2 pattern of the PersistentVolumeClaim names of PostgreSQL's data volumes. */
  readonly postgresVolumeClaims: string;
  /** Ingress host served over TLS (certificate expiry is probed); absent for plain HTTP. */
  readonly tlsHost?: string;
  /**
   * PostgreSQL as a Patroni cluster: its `scope` (the `scope` label of Patroni's metrics).
   * Absent for a single PostgreSQL pod, which has no replicas to lag.
   */
  readonly patroni?: { readonly scope: string };
  /**
   * `metadata.name`s of the CronJobs that take PostgreSQL backups (kube-state-metrics `cronjob`
   * label); absent or empty without scheduled backups.
   */
  readonly backupCronJobs?: readonly string[];
}
