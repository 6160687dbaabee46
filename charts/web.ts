import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  APP_METRICS_PORT,
  APP_METRICS_PORT_NAME,
  APP_MIGRATE_COMMAND,
  APP_PORT,
  APP_PORT_NAME,
  APP_SERVER_COMMAND,
  HEALTH_PATH,
  IMPORT_STAGING_PATH,
  READY_PATH,
} from '@expense-tracker/model/app-contract';
import { WEB } from '@expense-tracker/model/components';
import { formatIssues, type ResourceSettings, webSchema } from '@expense-tracker/model/environment-schema';
import { base } from '@expense-tracker/model/environments/base';
import type { ImportStaging } from './import-staging.js';
import { AppWorkload, type AppWorkloadProps } from './app-workload.js';

/** Props for `Web`. */
export interface WebProps extends Pick<AppWorkloadProps, 'image' | 'configMap'> {
  /**
   * Number of pods (1–100).
   * @default 2 (model/environments/base.ts)
   */
  readonly replicas?: number;
  /**
   * Container requests and limits.
   * @default 50m/64Mi requested, 500m/256Mi limit (model/environments/base.ts)
   */
  readonly resources?: ResourceSettings;
  /**
   * Seconds between SIGTERM and SIGKILL; must exceed `preStopSleepSeconds` so in-flight
   * requests can finish after endpoints are drained.
   * @default 30 (model/environments/base.ts)
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * Seconds the preStop hook sleeps before the container receives SIGTERM, so kube-proxy and
   * ingress controllers remove the pod from their endpoints first
   * (https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/).
   * @default 5 (model/environments/base.ts)
   */
  readonly preStopSleepSeconds?: number;
  /**
   * Seconds a new pod stays Ready before it counts as available, so a rolling update removes the
   * next old pod only once every load balancer in front has discovered the new one (HAProxy finds
   * pods through cluster DNS: see `serverDiscoverySeconds` in haproxy-config.ts).
   * @default 0
   */
  readonly minReadySeconds?: number;
  /**
   * `app.kubernetes.io/instance` label value.
   * @default 'expense-tracker'
   */
  readonly instance?: string;
  /**
   * The import staging area, mounted at `IMPORT_STAGING_PATH` in the `web` container (uploads are
   * written there); the ConfigMap must then set `IMPORT_STAGING_DIR`.
   * @default - not mounted (the import API answers 503)
   */
  readonly importStaging?: ImportStaging;
}

/**
 * The expense tracker's web tier: Deployment `expense-web`, Service `expense-web` (port 80 →
 * named container port `http`, the Ingress backend; port `metrics` → the app's Prometheus
 * listener, for the cluster's scraper) and, with more than one replica, a PodDisruptionBudget.
 *
 * Database migrations run as the `migrate` initContainer (`node dist/cli.js migrate`): every
 * new pod applies pending migrations before the server starts, so `kubectl apply` and
 * `pulumi up` need no extra Job ordering, and a Job's immutable pod template never blocks an
 * upgrade. The migration tool takes a PostgreSQL advisory lock, so concurrent pods are safe.
 *
 * Props are checked with the environment schema's `web` rules.
 * @throws Error naming the prop (`Web: preStopSleepSeconds: must be less than …`)
 */
export class Web extends AppWorkload {
  /** `metadata.name` of the Deployment, the Service and the Ingress backend. */
  static readonly NAME = WEB.name;
  /** Service `expense-web`: port 80 → `http`, port `metrics` → `metrics`. */
  readonly service: kplus.Service;

  constructor(scope: Construct, id: string, props: WebProps = {}) {
    const settings = {
      replicas: props.replicas ?? base.web.replicas,
      resources: props.resources ?? base.web.resources,
      terminationGracePeriodSeconds: props.terminationGracePeriodSeconds ?? base.web.terminationGracePeriodSeconds,
      preStopSleepSeconds: props.preStopSleepSeconds ?? base.web.preStopSleepSeconds,
    };
    const checked = webSchema.safeParse(settings);
    if (!checked.success) throw new Error(`Web: ${formatIssues(checked.error).join('; ')}`);
    super(scope, id, {
      name: WEB.name,
      identity: WEB.identity,
      peerName: 'web',
      instance: props.instance,
      image: props.image,
      configMap: props.configMap,
      resources: settings.resources,
      replicas: settings.replicas,
      terminationGracePeriodSeconds: settings.terminationGracePeriodSeconds,
      minReadySeconds: props.minReadySeconds,
    });

    const probe = (path: string, period: number, failures: number) => this.appProbe(APP_PORT, path, period, failures);
    // The migration needs the database password only.
    this.addInitContainer(this.appContainer({ name: 'migrate', command: [...APP_MIGRATE_COMMAND], secrets: ['PGPASSWORD'] }));
    this.addContainer(this.appContainer({
      name: 'web',
      // Uploads stream to the staging volume, never to the pod's own disk.
      volumeMounts: props.importStaging ? [{ path: IMPORT_STAGING_PATH, volume: props.importStaging.volume(this) }] : [],
      command: [...APP_SERVER_COMMAND],
      // `metrics`: the app's separate /metrics listener (METRICS_PORT, default = APP_METRICS_PORT),
      // for the cluster's scraper only: neither the Ingress nor HAProxy routes to it.
      ports: [
        { number: APP_PORT, name: APP_PORT_NAME },
        { number: APP_METRICS_PORT, name: APP_METRICS_PORT_NAME },
      ],
      startup: probe(HEALTH_PATH, 2, 30),
      readiness: probe(READY_PATH, 5, 2),
      liveness: probe(HEALTH_PATH, 10, 3),
      lifecycle: { preStop: kplus.Handler.fromCommand(['sleep', String(settings.preStopSleepSeconds)]) },
    }));
    // `metrics` on the Service for the cluster's scraper (a ServiceMonitor selects it by name);
    // the Ingress routes to `http` only, HAProxy to the pods' `http` port, and only the scraper's
    // namespace may connect to it (NetworkPolicy, charts/monitoring.ts).
    this.service = this.exposeViaService('Service', {
      name: WEB.name,
      ports: [
        { name: APP_PORT_NAME, port: WEB.servicePort },
        { name: APP_METRICS_PORT_NAME, port: APP_METRICS_PORT },
      ],
    });
  }
}
