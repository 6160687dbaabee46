import { createHash } from 'node:crypto';
import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { APP_PORT, APP_PORT_NAME } from '@expense-tracker/model/app-contract';
import { HAPROXY, WEB } from '@expense-tracker/model/components';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { renderLoadBalancer, type LoadBalancerSpec } from '../haproxy/load-balancer.js';
import { loadBalancerSpec } from './haproxy-config.js';
import type { Web } from './web.js';
import { Workload } from './workload.js';

/** Props for `HaproxyLoadBalancer`. */
export interface HaproxyLoadBalancerProps {
  /**
   * Validated environment; `haproxy` must be enabled. The cfg is rendered from it for the
   * Kubernetes target (`server-template` over `expense-web-headless`, `resolvers kubedns`).
   */
  readonly environment: EnvironmentConfig;
  /** The web tier HAProxy balances; its pods are found through a headless Service over them. */
  readonly backend: Web;
  /**
   * `app.kubernetes.io/instance` label value.
   * @default 'expense-tracker'
   */
  readonly instance?: string;
  /**
   * Seconds the preStop hook waits before HAProxy's soft stop, so the Ingress controller and
   * kube-proxy stop sending new connections first.
   * @default 5
   */
  readonly preStopSleepSeconds?: number;
}

/**
 * HAProxy in front of the web pods, configured by `charts/haproxy-config.ts` from the same
 * environment model as the rest of the chart:
 *
 * - ConfigMap `haproxy-config` (key `haproxy.cfg`), mounted read-only at
 *   `/usr/local/etc/haproxy/` where the official image reads it. The pod template carries
 *   `checksum/haproxy-config` (SHA-256 of the cfg), so any cfg change rolls the pods (the
 *   Helm convention, https://helm.sh/docs/howto/charts_tips_and_tricks/#automatically-roll-deployments).
 * - Deployment `haproxy`: the official `haproxy` image (Debian variant, UID/GID 99), restricted
 *   Pod Security Standard with a read-only root filesystem; emptyDirs for the runtime API socket
 *   directory (`/var/run/haproxy`) and `/tmp`. Probes use the frontend's `monitor-uri`
 *   (`/haproxy-healthz` on the `http` port), which HAProxy answers itself. On termination the
 *   preStop hook waits, then sends SIGUSR1 to PID 1 (the master): a soft stop that finishes open
 *   connections, bounded by `hard-stop-after`; the grace period covers both.
 * - Service `haproxy`: port 80 → `http` (8080); ClusterIP behind the Ingress, type
 *   LoadBalancer (externalTrafficPolicy Local) when HAProxy replaces the Ingress. Service
 *   `haproxy-stats`: 8404 → `stats` (stats page, Prometheus `/metrics`), always ClusterIP.
 * - Headless Service `expense-web-headless` (clusterIP None) over the backend's pods: its A
 *   records, one per ready pod, fill HAProxy's `server-template` slots.
 * - With more than one replica: anti-affinity and a PodDisruptionBudget (see `Workload`).
 *
 * @throws Error when `environment.haproxy.enabled` is false or the preStop pause is out of
 *   range, and HaproxyConfigError from the renderer for an inconsistent model
 */
export class HaproxyLoadBalancer extends Workload {
  /** `metadata.name` of the Deployment, Service and PodDisruptionBudget. */
  static readonly NAME = HAPROXY.name;
  /** `metadata.name` of the ConfigMap holding `haproxy.cfg`. */
  static readonly CONFIG_MAP_NAME = HAPROXY.configMapName;
  /** `metadata.name` of the stats/metrics Service. */
  static readonly STATS_SERVICE_NAME = HAPROXY.statsServiceName;
  /** Pod template annotation with the SHA-256 of the cfg. */
  static readonly CHECKSUM_ANNOTATION = 'checksum/haproxy-config';
  /** Port of the `haproxy` Service that forwards to the frontend. */
  static readonly SERVICE_PORT = HAPROXY.servicePort;

  /** Service `haproxy` (port 80 → `http`): the Ingress backend, or the public LoadBalancer. */
  readonly service: kplus.Service;
  /** Service `haproxy-stats` (8404 → `stats`): stats page and Prometheus `/metrics`, cluster-internal. */
  readonly statsService: kplus.Service;
  /** Headless Service `expense-web-headless` over the backend's pods. */
  readonly headlessBackendService: k8s.KubeService;
  readonly configMap: kplus.ConfigMap;
  /** The load balancer the cfg renders (Kubernetes target): frontend, backends, servers. */
  readonly spec: LoadBalancerSpec;
  /** The rendered `haproxy.cfg`. */
  readonly config: string;
  /** SHA-256 (hex) of `config`. */
  readonly configChecksum: string;

  constructor(scope: Construct, id: string, props: HaproxyLoadBalancerProps) {
    const env = props.environment;
    const h = env.haproxy;
    if (!h.enabled) throw new Error(`HaproxyLoadBalancer: haproxy.enabled is false in environment "${env.name}"`);
    const preStop = props.preStopSleepSeconds ?? 5;
    if (!Number.isInteger(preStop) || preStop < 0 || preStop > 60) throw new Error(`HaproxyLoadBalancer: preStopSleepSeconds: must be 0-60, got ${preStop}`);
    const spec = loadBalancerSpec(env, { kind: 'kubernetes' });
    const config = renderLoadBalancer(spec);
    const configChecksum = createHash('sha256').update(config).digest('hex');
    super(scope, id, {
      kind: 'Deployment',
      name: HAPROXY.name,
      identity: HAPROXY.identity,
      peerName: 'haproxy',
      instance: props.instance,
      image: h.image,
      resources: h.resources,
      podIdentity: { uid: HAPROXY.uid, gid: HAPROXY.uid },
      replicas: h.replicas,
      // preStop pause + soft stop bounded by hard-stop-after + margin.
      terminationGracePeriodSeconds: preStop + HAPROXY.hardStopAfterSeconds + 5,
      podAnnotations: { [HaproxyLoadBalancer.CHECKSUM_ANNOTATION]: configChecksum },
    });
    this.spec = spec;
    this.config = config;
    this.configChecksum = configChecksum;

    this.configMap = new kplus.ConfigMap(this, 'Config', {
      metadata: { name: HAPROXY.configMapName, labels: this.labels },
      data: { 'haproxy.cfg': config },
    });
    const configDir = HAPROXY.configPath.slice(0, HAPROXY.configPath.lastIndexOf('/'));
    const configVolume = kplus.Volume.fromConfigMap(this, 'ConfigVolume', this.configMap, { name: 'config' });
    const run = this.scratchVolume('run', Size.mebibytes(1));
    const tmp = this.scratchVolume('tmp', Size.mebibytes(16));
    const probe = (path: string, port: number, period: number, failures: number) =>
      kplus.Probe.fromHttpGet(path, { port, periodSeconds: Duration.seconds(period), failureThreshold: failures, timeoutSeconds: Duration.seconds(2) });
    // Readiness: the public frontend answers its monitor-uri (HAProxy itself, never a backend);
    // it stops when a soft stop closes the listeners. Liveness: the stats frontend answers, a
    // separate listener that depends on nothing but the process.
    const accepting = probe(HAPROXY.monitorUri, HAPROXY.httpPort, 5, 2);
    this.addContainer({
      name: 'haproxy',
      // The image's entrypoint adds `-W -db` (master-worker, foreground, logs on stdout).
      args: ['haproxy', '-f', HAPROXY.configPath],
      ports: [
        { number: HAPROXY.httpPort, name: APP_PORT_NAME },
        { number: HAPROXY.statsPort, name: 'stats' },
      ],
      volumeMounts: [
        { path: configDir, volume: configVolume, readOnly: true },
        { path: HAPROXY.runDir, volume: run },
        { path: '/tmp', volume: tmp },
      ],
      startup: probe(HAPROXY.monitorUri, HAPROXY.httpPort, 1, 30),
      readiness: accepting,
      liveness: probe(HAPROXY.statsUri, HAPROXY.statsPort, 10, 3),
      lifecycle: {
        preStop: kplus.Handler.fromCommand(['/bin/sh', '-c', `sleep ${preStop}; kill -USR1 1; while kill -0 1 2>/dev/null; do sleep 1; done`]),
      },
    });

    const replacesIngress = h.placement === 'replaces-ingress';
    this.service = this.exposeViaService('Service', {
      name: HAPROXY.name,
      type: replacesIngress ? kplus.ServiceType.LOAD_BALANCER : kplus.ServiceType.CLUSTER_IP,
      ports: [{ name: APP_PORT_NAME, port: HAPROXY.servicePort }],
    });
    // As the public entry point, keep the client address visible to HAProxy (no SNAT to other nodes).
    if (replacesIngress) ApiObject.of(this.service).addJsonPatch(JsonPatch.add('/spec/externalTrafficPolicy', 'Local'));
    // Stats page and /metrics get their own ClusterIP Service, never behind the Ingress or a public load balancer.
    this.statsService = this.exposeViaService('StatsService', { name: HAPROXY.statsServiceName, ports: [{ name: 'stats', port: HAPROXY.statsPort }] });
    this.headlessBackendService = props.backend.exposeViaHeadlessService('HeadlessService', {
      name: WEB.headlessServiceName,
      ports: [{ name: APP_PORT_NAME, port: APP_PORT }],
    });
  }
}
