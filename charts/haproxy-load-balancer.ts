import { createHash } from 'node:crypto';
import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { APP_PORT, APP_PORT_NAME } from '@expense-tracker/model/app-contract';
import { formatImageReference, HAPROXY_UID } from '@expense-tracker/model/images';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { type ComponentIdentity, recommendedLabels, selectorLabels } from '@expense-tracker/model/naming';
import { PodDisruptionBudget } from './pod-disruption-budget.js';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, restrictPodTemplate } from './pod-security.js';
import { containerResources, type ResourceSpec } from './resources.js';
import { imageTag } from './web.js';
import { HAPROXY, WEB } from '@expense-tracker/model/components';
import { renderHaproxyConfig } from './haproxy-config.js';

/** Props for `HaproxyLoadBalancer`. */
export interface HaproxyLoadBalancerProps {
  /**
   * Validated environment; `haproxy` must be enabled. The cfg is rendered from it for the
   * Kubernetes target (`server-template` over `expense-web-headless`, `resolvers kubedns`).
   */
  readonly environment: EnvironmentConfig;
  /** Labels of the web pods, selected by the headless Service `expense-web-headless`. */
  readonly webSelector: Record<string, string>;
  /**
   * Labels on the headless Service (it belongs to the web component).
   * @default webSelector
   */
  readonly webLabels?: Record<string, string>;
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
 * - Headless Service `expense-web-headless` (clusterIP None) over the web pods: its A records,
 *   one per ready pod, fill HAProxy's `server-template` slots.
 * - A PodDisruptionBudget when more than one replica runs.
 *
 * @throws Error when `environment.haproxy.enabled` is false or `webSelector` is empty, and
 *   HaproxyConfigError from the renderer for an inconsistent model.
 */
export class HaproxyLoadBalancer extends Construct {
  /** `metadata.name` of the Deployment, Service and PodDisruptionBudget. */
  static readonly NAME = 'haproxy';
  /** `metadata.name` of the ConfigMap holding `haproxy.cfg`. */
  static readonly CONFIG_MAP_NAME = 'haproxy-config';
  /** `metadata.name` of the stats/metrics Service. */
  static readonly STATS_SERVICE_NAME = 'haproxy-stats';
  /** Pod template annotation with the SHA-256 of the cfg. */
  static readonly CHECKSUM_ANNOTATION = 'checksum/haproxy-config';
  /** Port of the `haproxy` Service that forwards to the frontend. */
  static readonly SERVICE_PORT = 80;

  readonly deployment: kplus.Deployment;
  /** Service `haproxy` (port 80 → `http`): the Ingress backend, or the public LoadBalancer. */
  readonly service: kplus.Service;
  /** Service `haproxy-stats` (8404 → `stats`): stats page and Prometheus `/metrics`, cluster-internal. */
  readonly statsService: k8s.KubeService;
  readonly headlessService: k8s.KubeService;
  readonly configMap: kplus.ConfigMap;
  readonly identity: ComponentIdentity;
  /** Labels that select the HAProxy pods. */
  readonly selector: Record<string, string>;
  /** The rendered `haproxy.cfg`. */
  readonly config: string;
  /** SHA-256 (hex) of `config`. */
  readonly configChecksum: string;

  constructor(scope: Construct, id: string, props: HaproxyLoadBalancerProps) {
    super(scope, id);
    const env = props.environment;
    const h = env.haproxy;
    if (!h.enabled) throw new Error(`HaproxyLoadBalancer: haproxy.enabled is false in environment "${env.name}"`);
    if (Object.keys(props.webSelector).length === 0) throw new Error('HaproxyLoadBalancer: webSelector must not be empty');
    const preStop = props.preStopSleepSeconds ?? 5;
    if (!Number.isInteger(preStop) || preStop < 0 || preStop > 60) throw new Error(`HaproxyLoadBalancer: preStopSleepSeconds must be 0-60, got ${preStop}`);

    this.config = renderHaproxyConfig(env, { kind: 'kubernetes' });
    this.configChecksum = createHash('sha256').update(this.config).digest('hex');
    this.identity = { name: 'haproxy', instance: props.instance ?? 'expense-tracker', component: 'load-balancer', version: imageTag(formatImageReference(h.image)) };
    this.selector = selectorLabels(this.identity);
    const labels = recommendedLabels(this.identity);
    const identity = { uid: HAPROXY_UID, gid: HAPROXY_UID };

    this.configMap = new kplus.ConfigMap(this, 'Config', {
      metadata: { name: HaproxyLoadBalancer.CONFIG_MAP_NAME, labels },
      data: { 'haproxy.cfg': this.config },
    });
    const configDir = HAPROXY.configPath.slice(0, HAPROXY.configPath.lastIndexOf('/'));
    const configVolume = kplus.Volume.fromConfigMap(this, 'ConfigVolume', this.configMap, { name: 'config' });
    const run = kplus.Volume.fromEmptyDir(this, 'Run', 'run', { sizeLimit: Size.mebibytes(1) });
    const tmp = kplus.Volume.fromEmptyDir(this, 'Tmp', 'tmp', { sizeLimit: Size.mebibytes(16) });
    const probe = (period: number, failures: number) =>
      kplus.Probe.fromHttpGet(HAPROXY.monitorUri, {
        port: HAPROXY.httpPort,
        periodSeconds: Duration.seconds(period),
        failureThreshold: failures,
        timeoutSeconds: Duration.seconds(2),
      });

    this.deployment = new kplus.Deployment(this, 'Deployment', {
      metadata: { name: HaproxyLoadBalancer.NAME, labels },
      podMetadata: { labels, annotations: { [HaproxyLoadBalancer.CHECKSUM_ANNOTATION]: this.configChecksum } },
      select: false,
      replicas: h.replicas,
      strategy: kplus.DeploymentStrategy.rollingUpdate({
        maxSurge: kplus.PercentOrAbsolute.absolute(1),
        maxUnavailable: kplus.PercentOrAbsolute.absolute(0),
      }),
      minReady: Duration.seconds(0),
      progressDeadline: Duration.seconds(600),
      // preStop pause + soft stop bounded by hard-stop-after + margin.
      terminationGracePeriod: Duration.seconds(preStop + HAPROXY.hardStopAfterSeconds + 5),
      securityContext: restrictedPodSecurityContext(identity),
      automountServiceAccountToken: false,
      containers: [
        {
          name: 'haproxy',
          image: formatImageReference(h.image),
          imagePullPolicy: h.image.pullPolicy as kplus.ImagePullPolicy,
          // The image's entrypoint adds `-W -db` (master-worker, foreground, logs on stdout).
          args: ['haproxy', '-f', HAPROXY.configPath],
          ports: [
            { number: HAPROXY.httpPort, name: APP_PORT_NAME },
            { number: HAPROXY.statsPort, name: 'stats' },
          ],
          resources: containerResources(h.resources as ResourceSpec),
          securityContext: restrictedContainerSecurityContext(identity),
          volumeMounts: [
            { path: configDir, volume: configVolume, readOnly: true },
            { path: HAPROXY.runDir, volume: run },
            { path: '/tmp', volume: tmp },
          ],
          startup: probe(1, 30),
          readiness: probe(5, 2),
          liveness: probe(10, 3),
          lifecycle: {
            preStop: kplus.Handler.fromCommand(['/bin/sh', '-c', `sleep ${preStop}; kill -USR1 1; while kill -0 1 2>/dev/null; do sleep 1; done`]),
          },
        },
      ],
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: this.selector }));
    if (h.replicas > 1) {
      const pods = kplus.Pods.select(this, 'Pods', { labels: this.selector });
      // Soft anti-affinity: replicas on different nodes when possible.
      this.deployment.scheduling.separate(pods, { weight: 100, topology: kplus.Topology.HOSTNAME });
      new PodDisruptionBudget(this, 'Budget', { name: HaproxyLoadBalancer.NAME, selector: this.selector, replicas: h.replicas, labels });
    }
    restrictPodTemplate(this.deployment);

    const pods = kplus.Pods.select(this, 'ServicePods', { labels: this.selector });
    this.service = new kplus.Service(this, 'Service', {
      metadata: { name: HaproxyLoadBalancer.NAME, labels },
      type: h.placement === 'replaces-ingress' ? kplus.ServiceType.LOAD_BALANCER : kplus.ServiceType.CLUSTER_IP,
      selector: pods,
      ports: [{ name: APP_PORT_NAME, port: HaproxyLoadBalancer.SERVICE_PORT, targetPort: HAPROXY.httpPort }],
    });
    // Named targetPort, as the web Service does (IntOrString: the L1 serializer reads `.value`).
    const servicePatches = [JsonPatch.replace('/spec/ports/0/targetPort', k8s.IntOrString.fromString(APP_PORT_NAME))];
    // As the public entry point, keep the client address visible to HAProxy (no SNAT to other nodes).
    if (h.placement === 'replaces-ingress') servicePatches.push(JsonPatch.add('/spec/externalTrafficPolicy', 'Local'));
    ApiObject.of(this.service).addJsonPatch(...servicePatches);

    // Stats page and /metrics get their own ClusterIP Service, so they are never behind the Ingress
    // or a public load balancer.
    this.statsService = new k8s.KubeService(this, 'StatsService', {
      metadata: { name: HaproxyLoadBalancer.STATS_SERVICE_NAME, labels },
      spec: {
        type: 'ClusterIP',
        selector: this.selector,
        ports: [{ name: 'stats', port: HAPROXY.statsPort, targetPort: k8s.IntOrString.fromString('stats'), protocol: 'TCP' }],
      },
    });

    // Headless: DNS returns one A record per *ready* web pod (publishNotReadyAddresses false),
    // which HAProxy re-resolves at runtime into its server-template slots.
    this.headlessService = new k8s.KubeService(this, 'WebHeadlessService', {
      metadata: { name: WEB.headlessServiceName, labels: props.webLabels ?? props.webSelector },
      spec: {
        clusterIp: 'None',
        publishNotReadyAddresses: false,
        selector: props.webSelector,
        ports: [{ name: APP_PORT_NAME, port: APP_PORT, targetPort: k8s.IntOrString.fromString(APP_PORT_NAME), protocol: 'TCP' }],
      },
    });
  }
}
