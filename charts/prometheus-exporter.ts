import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import type { ResourceSettings } from '@expense-tracker/model/environment-schema';
import { parseImageReference } from '@expense-tracker/model/images';
import { Workload } from './workload.js';

/** Name of the exporter's container port, its Service port and its ServiceMonitor endpoint. */
export const EXPORTER_PORT_NAME = 'metrics';

/** Props for `PrometheusExporter`. */
export interface PrometheusExporterProps {
  /** `metadata.name` of the Deployment and the Service (a DNS label). */
  readonly name: string;
  /** Pinned image (`repository:tag`, never `latest`). */
  readonly image: string;
  /** TCP port the exporter listens on (named `metrics`). */
  readonly port: number;
  /** Numeric non-root UID (and GID) the image's binary runs as. */
  readonly uid: number;
  /**
   * Arguments after the image's entrypoint.
   * @default []
   */
  readonly args?: readonly string[];
  /**
   * Plain environment variables.
   * @default {}
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Environment variables from Secret keys, variable → `{ secret, key }` (for exporters that
   * cannot read a file).
   * @default {}
   */
  readonly secretEnv?: Readonly<Record<string, { readonly secret: string; readonly key: string }>>;
  /**
   * Environment variables holding the path of a Secret key's file, variable → `{ secret, key }`
   * (the `*_FILE` convention): the keys are mounted with the workload base's `secretFiles`
   * (`/run/secrets/<secret>/<key>`, read-only, mode 0440, group = `uid`), never as values.
   * @default {}
   */
  readonly secretFileEnv?: Readonly<Record<string, { readonly secret: string; readonly key: string }>>;
  /**
   * Requests and limits of the exporter container.
   * @default 10m/32Mi requested, 200m/64Mi limit
   */
  readonly resources?: ResourceSettings;
  /**
   * `app.kubernetes.io/name` of the exporter (`postgres-exporter`, `redis-exporter`).
   * @default the `name` prop
   */
  readonly appName?: string;
  /**
   * `app.kubernetes.io/instance` label value.
   * @default 'expense-tracker'
   */
  readonly instance?: string;
}

/**
 * A Prometheus exporter as its own workload: Deployment `<name>` (one replica; a second would
 * only double the load on the database it watches) and ClusterIP Service `<name>` exposing the
 * `metrics` port for a ServiceMonitor. Restricted Pod Security Standard: numeric non-root UID,
 * read-only root filesystem, no capabilities, RuntimeDefault seccomp, no service account token.
 * Probes are TCP checks on the metrics port: scraping `/metrics` would query the monitored
 * server, whose outage must show as a metric (`pg_up 0`), not as a restarting exporter.
 *
 * @throws Error naming the prop for an invalid `name`, `port`, `uid` or unpinned `image`
 */
export class PrometheusExporter extends Workload {
  /** ClusterIP Service `<name>` on the `metrics` port. */
  readonly service: kplus.Service;

  constructor(scope: Construct, id: string, props: PrometheusExporterProps) {
    if (!Number.isInteger(props.port) || props.port < 1024 || props.port > 65535) throw new Error(`PrometheusExporter: port: must be 1024-65535 (non-root), got ${props.port}`);
    super(scope, id, {
      kind: 'Deployment',
      name: props.name,
      identity: { name: props.appName ?? props.name, component: 'metrics' },
      instance: props.instance,
      image: parseImageReference(props.image),
      resources: props.resources ?? { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '64Mi' } },
      podIdentity: { uid: props.uid, gid: props.uid, fsGroup: Object.keys(props.secretFileEnv ?? {}).length > 0 ? props.uid : undefined },
    });

    const env: Record<string, kplus.EnvValue> = {};
    for (const [k, v] of Object.entries(props.env ?? {})) env[k] = kplus.EnvValue.fromValue(v);
    for (const [k, ref] of Object.entries(props.secretEnv ?? {})) {
      env[k] = kplus.EnvValue.fromSecretValue({ secret: kplus.Secret.fromSecretName(this, `Secret-${k}`, ref.secret), key: ref.key });
    }
    const files = this.secretFileEnv(props.secretFileEnv ?? {});
    const probe = (period: number) => kplus.Probe.fromTcpSocket({ port: props.port, periodSeconds: Duration.seconds(period), failureThreshold: 3, timeoutSeconds: Duration.seconds(2) });
    this.addContainer({
      name: 'exporter',
      args: [...(props.args ?? [])],
      envVariables: { ...env, ...files.envVariables },
      ports: [{ number: props.port, name: EXPORTER_PORT_NAME }],
      volumeMounts: files.volumeMounts,
      readiness: probe(10),
      liveness: probe(20),
    });
    this.service = this.exposeViaService('Service', { name: props.name, ports: [{ name: EXPORTER_PORT_NAME, port: props.port }] });
  }
}
