import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import type { ResourceSettings } from '@expense-tracker/model/environment-schema';
import { parseImageReference } from '@expense-tracker/model/images';
import { Workload, type WorkloadImage } from './workload.js';

/** Name of the exporter's container port, its Service port and its ServiceMonitor endpoint. */
export const EXPORTER_PORT_NAME = 'metrics';

/**
 * A credentials file the exporter reads in a format of its own, derived from a Secret key's file
 * by an init container into a memory-backed emptyDir: the secret never passes through an
 * environment variable, and never lands on the node's disk.
 */
export interface ExporterDerivedCredentials {
  /** The Secret key the file is derived from (mounted with the workload base's `secretFiles`). */
  readonly from: { readonly secret: string; readonly key: string };
  /** Image of the init container: it needs a POSIX shell and the tools `script` calls. */
  readonly image: WorkloadImage;
  /**
   * The `sh -c` script, given the path of the Secret key's file: writes the derived file(s) into
   * `mountPath` (the exporter runs with the same UID, so mode 0600 is enough).
   */
  readonly script: (secretFile: string) => string;
  /** Directory of the memory-backed emptyDir (1 MiB), writable by the init container, read-only in the exporter. */
  readonly mountPath: string;
}

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
   * Environment variables holding the path of a Secret key's file, variable → `{ secret, key }`
   * (the `*_FILE` convention): the keys are mounted with the workload base's `secretFiles`
   * (`/run/secrets/<secret>/<key>`, read-only, mode 0440, group = `uid`), never as values.
   * @default {}
   */
  readonly secretFileEnv?: Readonly<Record<string, { readonly secret: string; readonly key: string }>>;
  /**
   * A credentials file derived from a Secret key's file before the exporter starts (exporters
   * whose password file has a format of its own).
   * @default - none
   */
  readonly derivedCredentials?: ExporterDerivedCredentials;
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
 * Probes never scrape `/metrics`, which would query the monitored server, whose outage must show
 * as a metric (`pg_up 0`), not as an unready or restarting exporter: readiness is the exporter's
 * landing page (`GET /`, served without touching the server), liveness a TCP check of the port.
 * Credentials come only from files (`secretFileEnv`, `derivedCredentials`).
 *
 * @throws Error naming the prop for an invalid `name`, `port`, `uid`, or an unpinned `image` (also of `derivedCredentials`)
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
      podIdentity: { uid: props.uid, gid: props.uid, fsGroup: Object.keys(props.secretFileEnv ?? {}).length > 0 || props.derivedCredentials ? props.uid : undefined },
    });

    const env: Record<string, kplus.EnvValue> = {};
    for (const [k, v] of Object.entries(props.env ?? {})) env[k] = kplus.EnvValue.fromValue(v);
    const files = this.secretFileEnv(props.secretFileEnv ?? {});
    const volumeMounts = [...files.volumeMounts];
    if (props.derivedCredentials) {
      const derived = props.derivedCredentials;
      const secret = this.secretFiles(derived.from.secret, [derived.from.key]);
      const volume = kplus.Volume.fromEmptyDir(this, 'DerivedCredentials', 'derived-credentials', { medium: kplus.EmptyDirMedium.MEMORY, sizeLimit: Size.mebibytes(1) });
      this.addInitContainer(
        { name: 'credentials', command: ['sh', '-c', derived.script(secret.path(derived.from.key))], volumeMounts: [secret.mount, { path: derived.mountPath, volume }] },
        derived.image,
      );
      volumeMounts.push({ path: derived.mountPath, volume, readOnly: true });
    }
    const timing = (period: number) => ({ periodSeconds: Duration.seconds(period), failureThreshold: 3, timeoutSeconds: Duration.seconds(2) });
    this.addContainer({
      name: 'exporter',
      args: [...(props.args ?? [])],
      envVariables: { ...env, ...files.envVariables },
      ports: [{ number: props.port, name: EXPORTER_PORT_NAME }],
      volumeMounts,
      readiness: kplus.Probe.fromHttpGet('/', { port: props.port, ...timing(10) }),
      liveness: kplus.Probe.fromTcpSocket({ port: props.port, ...timing(20) }),
    });
    if (!parseImageReference(props.image).digest) {
      // Replaces the base's reasons, which speak of images this deployment builds itself.
      this.acceptScannerFindings({
        checkov: {
          CKV_K8S_43: 'exporter by tag: no digest of it is recorded in model/images.ts (no registry is reachable where this project is built); a digest in PINNED_IMAGES pins it',
          CKV_K8S_15: 'IfNotPresent by tag: an exporter release tag (vX.Y.Z) is published once per release by its project',
        },
      });
    }
    this.acceptScannerFindings({
      kubeScore: {
        'deployment-replicas': 'one exporter by design: a second replica would only double the queries on the server it watches, and Prometheus records a missed scrape as up 0',
      },
    });
    this.service = this.exposeViaService('Service', { name: props.name, ports: [{ name: EXPORTER_PORT_NAME, port: props.port }] });
  }
}
