/**
 * A Prometheus configuration (`prometheus.yml`) for targets outside Kubernetes: the processes of
 * `npm run local` on loopback. Same job names, metrics paths and `namespace` label as the
 * cluster's monitors produce, so the same rules and dashboards work unchanged
 * (https://prometheus.io/docs/prometheus/latest/configuration/configuration/).
 */
import { HAPROXY } from '@expense-tracker/model/components';
import { METRICS_PATH } from '@expense-tracker/model/app-contract';
import { stringify } from 'yaml';
import { duration } from './promql.js';
import { EXPORTER_METRICS_PATH, JOBS, type JobName, PATRONI_METRICS_PATH } from './targets.js';

/** Where each job's targets serve metrics. */
export const METRICS_PATHS: Readonly<Record<Exclude<JobName, 'ingress-tls'>, string>> = {
  [JOBS.web]: METRICS_PATH,
  [JOBS.haproxy]: HAPROXY.metricsPath,
  [JOBS.postgres]: EXPORTER_METRICS_PATH,
  [JOBS.redis]: EXPORTER_METRICS_PATH,
  [JOBS.patroni]: PATRONI_METRICS_PATH,
};

/** Options for `renderScrapeConfig`. */
export interface ScrapeConfigOptions {
  /** Value of the `namespace` label on every target (the environment's namespace). */
  readonly namespace: string;
  /** Seconds between scrapes (and rule evaluations). */
  readonly scrapeIntervalSeconds: number;
  /** `host:port` of every target, by job; jobs without targets are left out. */
  readonly targets: Readonly<Partial<Record<Exclude<JobName, 'ingress-tls'>, readonly string[]>>>;
  /**
   * Rule files (paths as Prometheus sees them).
   * @default []
   */
  readonly ruleFiles?: readonly string[];
}

/**
 * Renders `prometheus.yml`: global intervals, rule files, and one static scrape job per job
 * name. Deterministic (jobs in `JOBS` order).
 * @throws Error for a target that is not `host:port`
 */
export function renderScrapeConfig(options: ScrapeConfigOptions): string {
  const interval = duration(options.scrapeIntervalSeconds);
  const scrapeConfigs = [];
  for (const job of Object.keys(METRICS_PATHS) as Array<keyof typeof METRICS_PATHS>) {
    const targets = options.targets[job] ?? [];
    if (targets.length === 0) continue;
    for (const t of targets) if (!/^[A-Za-z0-9.-]+:[0-9]{1,5}$/.test(t)) throw new Error(`scrape target of ${job} must be host:port, got "${t}"`);
    scrapeConfigs.push({
      job_name: job,
      metrics_path: METRICS_PATHS[job],
      static_configs: [{ targets: [...targets], labels: { namespace: options.namespace } }],
    });
  }
  return stringify(
    {
      global: { scrape_interval: interval, scrape_timeout: duration(Math.max(1, Math.min(10, options.scrapeIntervalSeconds))), evaluation_interval: interval },
      rule_files: [...(options.ruleFiles ?? [])],
      scrape_configs: scrapeConfigs,
    },
    { lineWidth: 0 },
  );
}
