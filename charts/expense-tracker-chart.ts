import { Chart, type ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import { APP_PORT, IMPORT_PATH_PREFIX, MAIL_API } from '@expense-tracker/model/app-contract';
import { HAPROXY, IMPORT_WORKER, WEB } from '@expense-tracker/model/components';
import { type EnvironmentConfig, loadEnvironment } from '@expense-tracker/model/environment';
import { instanceName, MANAGED_BY, PART_OF } from '@expense-tracker/model/naming';
import { toBytes } from '@expense-tracker/model/quantities';
import { AppConfigMap } from './config-map.js';
import { serverDiscoverySeconds } from './haproxy-config.js';
import { HaproxyLoadBalancer } from './haproxy-load-balancer.js';
import { Monitoring, monitoredTopology } from './monitoring.js';
import type { MonitoredTopology } from '../monitoring/targets.js';
import { ImportStaging } from './import-staging.js';
import { ImportWorker } from './import-worker.js';
import { importPathAnnotations, WebIngress } from './ingress.js';
import { RestrictedNamespace } from './namespace.js';
import { DefaultDenyEgress, DefaultDenyIngress } from './network-policy.js';
import { Postgres } from './postgres.js';
import { PostgresHa } from './postgres-ha.js';
import { Redis } from './redis.js';
import { Web } from './web.js';

/** Props for `ExpenseTrackerChart`. */
export interface ExpenseTrackerChartProps extends Omit<ChartProps, 'namespace'> {
  /**
   * Validated environment to render.
   * @default - the `local` environment with default settings
   */
  readonly environment?: EnvironmentConfig;
}

/**
 * Every Kubernetes object of the expense tracker for one environment: the restricted
 * Namespace, `expense-config` ConfigMap, web Deployment/Service/PDB, PostgreSQL StatefulSet
 * with its Services (one pod, or a Patroni cluster with backup CronJobs in `ha` mode), Redis, HAProxy (Deployment, ConfigMap, Services, headless web Service)
 * when enabled, the Ingress and the NetworkPolicies, and with `monitoring.enabled` the Prometheus
 * Operator monitors and rules, the exporters and the Grafana dashboards (charts/monitoring.ts);
 * with imports enabled, the staging PersistentVolumeClaim, the import worker Deployment and the
 * import path's Ingress.
 *
 * Secrets are referenced by name and never rendered (see `SECRETS` in model/app-contract.ts and
 * `npm run create-secrets`), so no secret value can reach a manifest.
 */
export class ExpenseTrackerChart extends Chart {
  readonly environment: EnvironmentConfig;
  readonly web: Web;
  /** PostgreSQL: one pod (`postgres.mode: single`) or a Patroni cluster (`ha`); Service `postgres` either way. */
  readonly postgres: Postgres | PostgresHa;
  readonly redis: Redis;
  readonly config: AppConfigMap;
  /** HAProxy in front of the web pods; undefined when `haproxy.enabled` is false. */
  readonly haproxy?: HaproxyLoadBalancer;
  /** The Ingress; undefined when HAProxy replaces it. */
  readonly ingress?: WebIngress;
  /** Monitors, rules, exporters and dashboards; undefined unless `monitoring.enabled`. */
  readonly monitoring?: Monitoring;
  /** What the rules and dashboards describe (also when monitoring is off, for tools that render them). */
  readonly topology: MonitoredTopology;
  /** The Ingress of the import path (body size, timeouts); undefined when HAProxy replaces the Ingress or imports are off. */
  readonly importIngress?: WebIngress;
  /** The import worker; undefined when `imports.enabled` is false. */
  readonly importWorker?: ImportWorker;

  constructor(scope: Construct, id: string, props: ExpenseTrackerChartProps = {}) {
    const env = props.environment ?? loadEnvironment('local');
    const instance = instanceName(env.name);
    super(scope, id, {
      ...props,
      namespace: env.namespace,
      labels: {
        ...props.labels,
        'app.kubernetes.io/part-of': PART_OF,
        'app.kubernetes.io/managed-by': MANAGED_BY,
        'app.kubernetes.io/instance': instance,
      },
    });
    this.environment = env;

    new RestrictedNamespace(this, 'Namespace', { name: env.namespace, level: 'restricted' });
    const pg = env.postgres;
    this.postgres =
      pg.mode === 'ha'
        ? new PostgresHa(this, 'Postgres', {
            image: pg.ha.image,
            members: pg.ha.members,
            antiAffinity: pg.ha.antiAffinity,
            synchronousMode: pg.ha.synchronousMode,
            timing: pg.ha.timing,
            apiServer: pg.ha.apiServer,
            storage: pg.storage,
            storageClassName: pg.storageClassName,
            resources: pg.resources,
            backup: pg.backup.enabled
              ? { repository: pg.backup.repository, s3: pg.backup.s3, pvc: pg.backup.pvc, retention: pg.backup.retention, schedule: pg.backup.schedule, stanza: pg.backup.stanza, kubectlImage: pg.backup.kubectlImage }
              : undefined,
            instance,
          })
        : new Postgres(this, 'Postgres', { image: pg.image, storage: pg.storage, storageClassName: pg.storageClassName, resources: pg.resources, instance });
    this.redis = new Redis(this, 'Redis', {
      image: env.redis.image,
      persistence: env.redis.persistence.enabled,
      storage: env.redis.persistence.storage,
      storageClassName: env.redis.persistence.storageClassName,
      resources: env.redis.resources,
      instance,
    });
    this.config = new AppConfigMap(this, 'Config', { environment: env, postgres: this.postgres, redis: this.redis });
    const imports = env.imports;
    const staging = imports.enabled
      ? new ImportStaging(this, 'ImportStaging', { storage: imports.staging.storage, storageClassName: imports.staging.storageClassName, accessMode: imports.staging.accessMode })
      : undefined;
    this.web = new Web(this, 'Web', {
      image: env.image,
      replicas: env.web.replicas,
      resources: env.web.resources,
      terminationGracePeriodSeconds: env.web.terminationGracePeriodSeconds,
      preStopSleepSeconds: env.web.preStopSleepSeconds,
      // Behind HAProxy a new pod counts only once HAProxy can have found it through DNS.
      minReadySeconds: env.haproxy.enabled ? serverDiscoverySeconds(env) : 0,
      configMap: this.config.configMap,
      importStaging: staging,
      instance,
    });
    if (staging) {
      this.importWorker = new ImportWorker(this, 'ImportWorker', {
        staging,
        image: env.image,
        replicas: imports.worker.replicas,
        resources: imports.worker.resources,
        terminationGracePeriodSeconds: imports.worker.terminationGracePeriodSeconds,
        configMap: this.config.configMap,
        instance,
      });
    }

    // Isolation both ways: deny everything, then allow each flow (docs/haproxy.md has the
    // picture); a flow between two workloads is allowed out of one and into the other.
    new DefaultDenyIngress(this, 'DefaultDenyIngress');
    new DefaultDenyEgress(this, 'DefaultDenyEgress');
    // Mail: HTTPS to the SendGrid API, i.e. to public addresses only (never into the cluster).
    const mail = { name: MAIL_API.name, internet: true } as const;
    for (const app of this.importWorker ? [this.web, this.importWorker] : [this.web]) {
      app.allowTo(this.postgres);
      app.allowTo(this.redis);
      app.allowTo(mail, { ports: [MAIL_API.port] });
    }
    const ingressController = { name: 'ingress-controller', namespaces: [env.ingressControllerNamespace] };
    // Traffic path per environment:
    // - haproxy disabled:                 Ingress → Service expense-web → web pods
    // - haproxy behind-ingress (local, ibm): Ingress → Service haproxy → HAProxy → web pods
    //   (through the headless Service expense-web-headless); web pods accept only HAProxy.
    // - haproxy replaces-ingress:         LoadBalancer Service haproxy → HAProxy → web pods; no Ingress.
    const h = env.haproxy;
    if (h.enabled) {
      const haproxy = new HaproxyLoadBalancer(this, 'Haproxy', { environment: env, backend: this.web, instance });
      this.haproxy = haproxy;
      this.web.allowFrom(haproxy, { port: APP_PORT });
      // Behind the Ingress only its controller reaches HAProxy; as a LoadBalancer, anyone may.
      haproxy.allowFrom(h.placement === 'behind-ingress' ? ingressController : { name: 'any', anywhere: true }, { port: HAPROXY.httpPort });
      // Other scrapers only: with monitoring on, Prometheus's namespace is admitted by
      // `allow-prometheus-to-haproxy-stats` (charts/monitoring.ts), and one policy per flow is enough.
      const prometheus = env.monitoring.enabled ? env.monitoring.prometheus.namespace : undefined;
      const scrapers = h.metricsScrapeNamespaces.filter((namespace) => namespace !== prometheus);
      if (scrapers.length > 0) haproxy.allowFrom({ name: 'metrics-scrape', namespaces: scrapers }, { port: HAPROXY.statsPort });
    } else {
      this.web.allowFrom(ingressController, { port: APP_PORT });
    }
    if (!h.enabled || h.placement === 'behind-ingress') {
      const route = {
        service: this.haproxy?.service ?? this.web.service,
        host: env.ingress.host,
        className: env.ingress.className,
        tlsSecretName: env.ingress.tlsSecretName,
      };
      this.ingress = new WebIngress(this, 'Ingress', { ...route, name: WEB.name });
      // Uploads of up to imports.maxBytes, streamed, with the upload timeout; every other path keeps the controller's defaults.
      if (imports.enabled) {
        this.importIngress = new WebIngress(this, 'ImportIngress', {
          ...route,
          name: IMPORT_WORKER.ingressName,
          path: IMPORT_PATH_PREFIX,
          annotations: importPathAnnotations(toBytes(imports.maxBytes), imports.uploadTimeoutSeconds),
        });
      }
    }
    if (env.monitoring.enabled) {
      this.monitoring = new Monitoring(this, 'Monitoring', { environment: env, web: this.web, postgres: this.postgres, redis: this.redis, haproxy: this.haproxy, instance });
    }
    this.topology = this.monitoring?.topology ?? monitoredTopology(env, this.haproxy?.spec);
  }
}
