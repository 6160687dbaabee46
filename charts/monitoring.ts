import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { FRONTEND_NAME, type LoadBalancerSpec } from '../haproxy/load-balancer.js';
import { buildDashboards, dashboardJson, type NamedDashboard } from '../monitoring/dashboards/index.js';
import { duration } from '../monitoring/promql.js';
import { buildRuleGroups, type RuleGroup } from '../monitoring/rules.js';
import { EXPORTER_METRICS_PATH, JOBS, type MonitoredTopology, PATRONI_METRICS_PATH, redisPasswordMapScript } from '../monitoring/targets.js';
import { APP_METRICS_PORT_NAME, HEALTH_PATH, METRICS_PATH, SECRETS } from '@expense-tracker/model/app-contract';
import { HAPROXY, POSTGRES_EXPORTER, POSTGRES_HA, REDIS_EXPORTER } from '@expense-tracker/model/components';
import { formatImageReference, PINNED_IMAGES } from '@expense-tracker/model/images';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import type { HaproxyLoadBalancer } from './haproxy-load-balancer.js';
import {
  PodMonitor,
  PodMonitorSpecPodMetricsEndpointsRelabelingsAction,
  Probe,
  PrometheusRule,
  PrometheusRuleSpecGroupsRulesExpr,
  ServiceMonitor,
  ServiceMonitorSpecEndpointsRelabelingsAction,
} from './imports/monitoring.coreos.com.js';
import { recommendedLabels } from '@expense-tracker/model/naming';
import type { NetworkPeer } from './network-policy.js';
import type { Workload } from './workload.js';
import { Postgres } from './postgres.js';
import { PostgresHa } from './postgres-ha.js';
import { EXPORTER_PORT_NAME, PrometheusExporter } from './prometheus-exporter.js';
import { Redis } from './redis.js';
import { Web } from './web.js';

/**
 * The topology the rules and dashboards describe, from an environment and the load balancer the
 * chart configured (`HaproxyLoadBalancer.spec`, undefined without HAProxy): names the constructs
 * own (web Deployment, PostgreSQL's claim template, HAProxy's frontend and backends). The
 * synthesized result carries it (`synthesize(env).topology`).
 */
export function monitoredTopology(env: EnvironmentConfig, loadBalancer: LoadBalancerSpec | undefined): MonitoredTopology {
  let haproxy: MonitoredTopology['haproxy'];
  if (loadBalancer) {
    const backends = loadBalancer.backends;
    // The default backend (no path prefix) serves pages; every backend has the same servers.
    const webBackend = backends.find((b) => b.pathPrefixes.length === 0) ?? backends[0];
    haproxy = { frontend: FRONTEND_NAME, backends: backends.map((b) => b.name), webBackend: webBackend.name };
  }
  const hasIngress = !env.haproxy.enabled || env.haproxy.placement === 'behind-ingress';
  const ha = env.postgres.mode === 'ha';
  return {
    environment: env.name,
    namespace: env.namespace,
    webReplicas: env.web.replicas,
    webDeployment: Web.NAME,
    haproxy,
    postgresDatabase: env.postgres.database,
    // StatefulSet claims are named <claim template>-<statefulset>-<ordinal>.
    postgresVolumeClaims: `${Postgres.DATA_CLAIM_TEMPLATE}-${Postgres.NAME}-[0-9]+`,
    tlsHost: hasIngress && env.ingress.tlsSecretName ? env.ingress.host : undefined,
    ...(ha ? { patroni: { scope: PostgresHa.SCOPE } } : {}),
    ...(ha && env.postgres.backup.enabled ? { backupCronJobs: [...PostgresHa.BACKUP_CRONJOB_NAMES] } : {}),
  };
}

/** Props for `Monitoring`. */
export interface MonitoringProps {
  /**
   * The environment the chart renders; its `monitoring` section configures everything here
   * (`monitoring.enabled` is the chart's switch and is not read here).
   */
  readonly environment: EnvironmentConfig;
  /** The constructs whose pods are scraped. */
  readonly web: Web;
  /** PostgreSQL; a Patroni cluster (`PostgresHa`) also gets its members' REST API scraped. */
  readonly postgres: Postgres | PostgresHa;
  readonly redis: Redis;
  /**
   * HAProxy in front of the web pods.
   * @default - none (no HAProxy monitor or dashboard)
   */
  readonly haproxy?: HaproxyLoadBalancer;
  /**
   * `app.kubernetes.io/instance` label value.
   * @default 'expense-tracker'
   */
  readonly instance?: string;
}

/**
 * The operations layer of the chart, for a cluster running the Prometheus Operator
 * (kube-prometheus-stack) and Grafana's dashboard sidecar:
 *
 * - ServiceMonitor `expense-web` (port `metrics` of Service `expense-web`: each web pod's
 *   `/metrics` listener, which neither the Ingress nor HAProxy routes to), ServiceMonitor
 *   `haproxy` (Service `haproxy-stats`), the exporters `postgres-exporter` and `redis-exporter`
 *   with their ServiceMonitors, and for a Patroni cluster PodMonitor `patroni` (every member's
 *   REST API `/metrics`: role, WAL positions, replication state). Each target gets an explicit
 *   `job` label (see `monitoring/targets.ts`).
 * - Probe `ingress-tls` through the blackbox exporter when the Ingress serves TLS.
 * - PrometheusRule `expense-tracker`: SLO recordings, burn-rate and cause alerts.
 * - One ConfigMap per Grafana dashboard (`grafana-dashboard-<name>`), labelled for the sidecar.
 *
 * Monitors and rules carry `settings.prometheus.selectorLabels` so the `Prometheus` resource
 * selects them. It lets Prometheus's namespace reach every metrics port and each exporter the
 * server it watches (`allowFrom` on the workloads; listed in `allowRules`).
 */
export class Monitoring extends Construct {
  /** `metadata.name` of the PrometheusRule. */
  static readonly RULE_NAME = 'expense-tracker';
  /** Prefix of the dashboard ConfigMaps' names. */
  static readonly DASHBOARD_CONFIG_MAP_PREFIX = 'grafana-dashboard-';
  /** Annotation the Grafana sidecar reads the target folder from (kube-prometheus-stack's `folderAnnotation`). */
  static readonly FOLDER_ANNOTATION = 'grafana_folder';

  readonly topology: MonitoredTopology;
  readonly ruleGroups: RuleGroup[];
  readonly dashboards: NamedDashboard[];
  readonly postgresExporter: PrometheusExporter;
  readonly redisExporter: PrometheusExporter;
  /** The NetworkPolicies it added for scraping and for the exporters' connections. */
  readonly allowRules: { readonly name: string; readonly port: number | string; readonly fromNamespaces?: readonly string[] }[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const env = props.environment;
    const s = env.monitoring;
    this.topology = monitoredTopology(env, props.haproxy?.spec);
    const interval = duration(s.prometheus.scrapeIntervalSeconds);
    const selectable = { ...s.prometheus.selectorLabels };

    const serviceMonitor = (name: string, selector: Record<string, string>, port: string, path: string, job: string, labels: Record<string, string>) =>
      new ServiceMonitor(this, `${name}-monitor`, {
        metadata: { name, labels: { ...labels, ...selectable } },
        spec: {
          selector: { matchLabels: selector },
          endpoints: [{ port, path, interval, relabelings: [{ action: ServiceMonitorSpecEndpointsRelabelingsAction.REPLACE, targetLabel: 'job', replacement: job }] }],
        },
      });

    // Selects Services `expense-web` and `expense-web-headless`; only the first has the metrics port.
    serviceMonitor(Web.NAME, props.web.selector, APP_METRICS_PORT_NAME, METRICS_PATH, JOBS.web, recommendedLabels(props.web.identity));
    const prometheus: NetworkPeer = { name: 'prometheus', namespaces: [s.prometheus.namespace] };
    const allow = (target: Workload, from: Workload | NetworkPeer, port: number | string, name: string) => {
      target.allowFrom(from, { port, name });
      this.allowRules.push({ name, port, ...('namespaces' in from ? { fromNamespaces: from.namespaces } : {}) });
    };
    allow(props.web, prometheus, APP_METRICS_PORT_NAME, 'allow-prometheus-to-web-metrics');
    if (props.haproxy) {
      // Selects both HAProxy Services; only `haproxy-stats` has the stats port, so only it is scraped.
      const statsPort = props.haproxy.statsService.ports[0].name!;
      serviceMonitor(JOBS.haproxy, props.haproxy.selector, statsPort, HAPROXY.metricsPath, JOBS.haproxy, recommendedLabels(props.haproxy.identity));
      allow(props.haproxy, prometheus, statsPort, 'allow-prometheus-to-haproxy-stats');
    }

    this.postgresExporter = new PrometheusExporter(this, 'PostgresExporter', {
      name: POSTGRES_EXPORTER.name,
      image: formatImageReference(PINNED_IMAGES.postgresExporter),
      port: POSTGRES_EXPORTER.port,
      uid: POSTGRES_EXPORTER.uid,
      instance: props.instance,
      args: [`--web.listen-address=:${POSTGRES_EXPORTER.port}`, '--disable-settings-metrics'],
      env: {
        DATA_SOURCE_URI: `${Postgres.NAME}:${Postgres.PORT}/${env.postgres.database}?sslmode=disable`,
      },
      secretFileEnv: {
        DATA_SOURCE_USER_FILE: { secret: SECRETS.postgres.name, key: SECRETS.postgres.keys.username },
        DATA_SOURCE_PASS_FILE: { secret: SECRETS.postgres.name, key: SECRETS.postgres.keys.password },
      },
    });
    const redisAddress = `redis://${Redis.NAME}:${Redis.PORT}`;
    this.redisExporter = new PrometheusExporter(this, 'RedisExporter', {
      name: REDIS_EXPORTER.name,
      image: formatImageReference(PINNED_IMAGES.redisExporter),
      port: REDIS_EXPORTER.port,
      uid: REDIS_EXPORTER.uid,
      instance: props.instance,
      args: [`--redis.password-file=${REDIS_EXPORTER.passwordMapFile}`],
      env: { REDIS_ADDR: redisAddress, REDIS_EXPORTER_WEB_LISTEN_ADDRESS: `:${REDIS_EXPORTER.port}` },
      derivedCredentials: {
        from: { secret: SECRETS.redis.name, key: SECRETS.redis.keys.password },
        // The Redis image the environment runs (a shell and sed; the exporter's own is distroless).
        image: env.redis.image,
        script: (passwordFile) => redisPasswordMapScript(redisAddress, passwordFile, REDIS_EXPORTER.passwordMapFile),
        mountPath: REDIS_EXPORTER.passwordMapFile.slice(0, REDIS_EXPORTER.passwordMapFile.lastIndexOf('/')),
      },
    });
    for (const e of [this.postgresExporter, this.redisExporter]) {
      serviceMonitor(e.service.name, e.selector, EXPORTER_PORT_NAME, EXPORTER_METRICS_PATH, e.service.name, e.labels);
      allow(e, prometheus, EXPORTER_PORT_NAME, `allow-prometheus-to-${e.service.name}`);
    }
    allow(props.postgres, this.postgresExporter, Postgres.PORT, 'allow-postgres-exporter-to-postgres');
    if (props.postgres instanceof PostgresHa) {
      // Patroni serves /metrics on its REST API without authentication (only unsafe methods take it).
      new PodMonitor(this, 'PatroniPodMonitor', {
        metadata: { name: JOBS.patroni, labels: { ...props.postgres.labels, ...selectable } },
        spec: {
          selector: { matchLabels: props.postgres.selector },
          podMetricsEndpoints: [
            {
              port: POSTGRES_HA.apiPortName,
              path: PATRONI_METRICS_PATH,
              interval,
              relabelings: [{ action: PodMonitorSpecPodMetricsEndpointsRelabelingsAction.REPLACE, targetLabel: 'job', replacement: JOBS.patroni }],
            },
          ],
        },
      });
      allow(props.postgres, prometheus, POSTGRES_HA.apiPortName, 'allow-prometheus-to-patroni');
    }
    allow(props.redis, this.redisExporter, Redis.PORT, 'allow-redis-exporter-to-redis');

    if (this.topology.tlsHost) {
      const [host, port] = s.blackboxExporterAddress.split(':');
      new Probe(this, 'IngressTlsProbe', {
        metadata: { name: JOBS.tls, labels: selectable },
        spec: {
          jobName: JOBS.tls,
          interval: '5m',
          module: 'http_2xx',
          prober: { url: `${host}:${port}` },
          targets: { staticConfig: { static: [`https://${this.topology.tlsHost}${HEALTH_PATH}`] } },
        },
      });
    }

    this.ruleGroups = buildRuleGroups(s, this.topology);
    new PrometheusRule(this, 'Rules', {
      metadata: { name: Monitoring.RULE_NAME, labels: selectable },
      spec: {
        groups: this.ruleGroups.map((g) => ({
          name: g.name,
          interval: g.interval,
          rules: g.rules.map((r) => ({ ...r, expr: PrometheusRuleSpecGroupsRulesExpr.fromString(r.expr) })),
        })),
      },
    });

    this.dashboards = buildDashboards(s, this.topology);
    for (const d of this.dashboards) {
      new k8s.KubeConfigMap(this, `Dashboard-${d.name}`, {
        metadata: {
          name: `${Monitoring.DASHBOARD_CONFIG_MAP_PREFIX}${d.name}`,
          labels: { [s.grafana.dashboardLabel.key]: s.grafana.dashboardLabel.value },
          annotations: { [Monitoring.FOLDER_ANNOTATION]: s.grafana.folder },
        },
        data: { [`${d.name}.json`]: dashboardJson(d.dashboard) },
      });
    }
  }
}
