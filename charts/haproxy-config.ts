/**
 * The environment model mapped onto the HAProxy library (`haproxy/`): one `LoadBalancerSpec` per
 * environment and target, rendered to `haproxy.cfg` text. Three targets share listeners, routing,
 * retries, timeouts and health checks; only where the servers come from differs:
 *
 * - `kubernetes`: `server-template` slots resolved at runtime from the headless Service
 *   `expense-web-headless.<namespace>.svc.<domain>` through `resolvers kubedns` (the pod's
 *   resolv.conf); mounted from a ConfigMap at the official image's config path.
 * - `compose`: the same slots resolved from the compose service name through Docker's embedded DNS
 *   (`nameserver docker 127.0.0.11:53`), so replicas that stop or come back need no reload.
 * - `local`: `server webN 127.0.0.1:<port> check` lines for app processes on loopback
 *   (`npm run local`, the integration tests and the benchmark).
 *
 * Routing: `/api/imports...` goes to backend `imports` (when the environment enables imports: a
 * body limit and a long server timeout for uploads, on that path only), `/api` and `/api/...` to
 * backend `api`, everything else (pages, assets) to backend `web`; all reach the same app
 * instances with their own balance algorithm, health checks and statistics.
 */
import { APP_PORT, IMPORT_PATH_PREFIX, READY_PATH } from '@expense-tracker/model/app-contract';
import { HAPROXY, WEB } from '@expense-tracker/model/components';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { toBytes, toMillicores } from '@expense-tracker/model/quantities';
import { HaproxyConfigError } from '../haproxy/config-builder.js';
import { renderLoadBalancer, type BackendSpec, type LoadBalancerSpec, type ResolversSpec, type ServerSource } from '../haproxy/load-balancer.js';

/** Name of the `resolvers` section of the Kubernetes target. */
export const KUBE_RESOLVERS = 'kubedns';
/** Name of the `resolvers` section that points HAProxy at Docker's embedded DNS. */
export const DOCKER_RESOLVERS = 'dockerdns';
/** Docker's embedded DNS server on user-defined networks: https://docs.docker.com/engine/network/#dns-services */
export const DOCKER_DNS = { name: 'docker', address: '127.0.0.11', port: 53 } as const;
/**
 * TTL (seconds) of the cluster DNS answers for Service names: the CoreDNS `kubernetes` plugin's
 * `ttl 30` in the Corefile of kubeadm and minikube, which its `cache 30` plugin serves until it
 * expires (https://coredns.io/plugins/kubernetes/). A pod that turns Ready reaches HAProxy's
 * resolvers up to this late.
 */
export const CLUSTER_DNS_TTL_SECONDS = 30;
/** `hold valid` of the resolvers section: a valid answer is not asked again for this long. */
const HOLD_VALID_SECONDS = 10;
/** HAProxy's most threads (`MAX_THREADS` of a default build). */
const MAX_THREADS = 64;

/** Render for a cluster: DNS-discovered servers behind the headless Service. */
export interface KubernetesTarget {
  readonly kind: 'kubernetes';
  /**
   * Cluster DNS domain.
   * @default 'cluster.local'
   */
  readonly clusterDomain?: string;
}

/** Render for the docker-compose topology: servers found through Docker's embedded DNS. */
export interface ComposeTarget {
  readonly kind: 'compose';
  /** Compose service name of the web replicas (its DNS name on the project network). */
  readonly service: string;
  /** Path of the compose file, for the header comment. */
  readonly composeFile: string;
}

/** One app process on loopback. */
export interface LocalInstance {
  /** TCP port the instance listens on (127.0.0.1). */
  readonly port: number;
  /**
   * Mark it `backup` (serves only when every other instance is DOWN).
   * @default false
   */
  readonly backup?: boolean;
}

/** Render for processes on one machine: static `server` lines on 127.0.0.1. */
export interface LocalTarget {
  readonly kind: 'local';
  /** App instances; names are `web1`, `web2`, … (`web-backup1`, … for backups) in this order. */
  readonly instances: readonly LocalInstance[];
  /** Port of the public frontend on 127.0.0.1. */
  readonly port: number;
  /** Port of the stats/metrics listener on 127.0.0.1. */
  readonly statsPort: number;
  /** Path of the runtime API socket (in a writable directory of the caller). */
  readonly statsSocket: string;
  /**
   * Overrides of the environment's health check timing (tests use a shorter interval).
   * @default the environment's `haproxy.healthCheck`
   */
  readonly healthCheck?: { readonly intervalSeconds?: number; readonly fall?: number; readonly rise?: number };
  /**
   * Bind address of both listeners.
   * @default '127.0.0.1'
   */
  readonly address?: string;
}

export type HaproxyTarget = KubernetesTarget | ComposeTarget | LocalTarget;

/**
 * Maps an environment and a target to a load balancer spec.
 * @throws HaproxyConfigError when HAProxy is disabled for the environment or a local target has no instance
 */
export function loadBalancerSpec(env: EnvironmentConfig, target: HaproxyTarget): LoadBalancerSpec {
  const h = env.haproxy;
  if (!h.enabled) throw new HaproxyConfigError(`environment "${env.name}": haproxy.enabled is false`);
  const generated = 'Generated from the environment model (model/environments/): edit the model, not this file.';
  const inPod = target.kind !== 'local';
  let header: string[];
  let servers: ServerSource;
  let resolvers: ResolversSpec | undefined;
  let healthCheck = { path: READY_PATH, intervalSeconds: h.healthCheck.intervalSeconds, fall: h.healthCheck.fall, rise: h.healthCheck.rise };
  const dnsHolds = { holdValidSeconds: HOLD_VALID_SECONDS, holdErrorSeconds: 30, holdObsoleteSeconds: 30, acceptedPayloadSize: 8192 };
  if (target.kind === 'kubernetes') {
    header = [`haproxy.cfg for environment "${env.name}", target kubernetes.`, generated];
    resolvers = { name: KUBE_RESOLVERS, parseResolvConf: true, ...dnsHolds };
    servers = {
      kind: 'template',
      prefix: 'web',
      count: h.serverSlots,
      fqdn: `${WEB.headlessServiceName}.${env.namespace}.svc.${target.clusterDomain ?? 'cluster.local'}`,
      port: APP_PORT,
      resolvers: KUBE_RESOLVERS,
      // Kubernetes Services on minikube and IKS are IPv4 (single-stack).
      resolvePrefer: 'ipv4',
    };
  } else if (target.kind === 'compose') {
    header = [
      `haproxy.cfg for environment "${env.name}", target docker-compose (${target.composeFile}).`,
      generated,
      `Servers: the A records of the compose service "${target.service}" from Docker's embedded DNS.`,
    ];
    resolvers = { name: DOCKER_RESOLVERS, parseResolvConf: false, nameservers: [DOCKER_DNS], ...dnsHolds };
    // `scale` may exceed the slots the cluster needs: every replica gets one.
    servers = { kind: 'template', prefix: 'web', count: Math.max(h.serverSlots, env.web.replicas), fqdn: target.service, port: APP_PORT, resolvers: DOCKER_RESOLVERS };
  } else {
    if (target.instances.length === 0) throw new HaproxyConfigError('local target: instances must not be empty');
    header = [`haproxy.cfg for environment "${env.name}", target local.`, generated];
    let primary = 0;
    let backup = 0;
    servers = {
      kind: 'static',
      servers: target.instances.map((i) =>
        i.backup ? { name: `web-backup${++backup}`, address: '127.0.0.1', port: i.port, backup: true } : { name: `web${++primary}`, address: '127.0.0.1', port: i.port },
      ),
    };
    healthCheck = { ...healthCheck, ...target.healthCheck };
  }
  const address = target.kind === 'local' ? (target.address ?? '127.0.0.1') : '';
  const imports: BackendSpec[] = env.imports.enabled
    ? [
        {
          name: 'imports',
          description: `CSV imports (${IMPORT_PATH_PREFIX}/...): bodies up to imports.maxBytes, streamed; the server answers after the last byte.`,
          balance: 'leastconn',
          pathPrefixes: [IMPORT_PATH_PREFIX],
          servers,
          serverTimeoutSeconds: env.imports.uploadTimeoutSeconds,
          maxBodyBytes: toBytes(env.imports.maxBytes),
        },
      ]
    : [];
  const backends: BackendSpec[] = [
    // Before `api`: the longer prefix is matched first.
    ...imports,
    { name: 'api', description: `JSON API (${HAPROXY.apiPathPrefix}/...).`, balance: h.balance.api, pathPrefixes: [HAPROXY.apiPathPrefix], servers },
    { name: 'web', description: 'Server-rendered pages and everything not routed elsewhere.', balance: h.balance.web, pathPrefixes: [], servers },
  ];
  return {
    header,
    maxconn: h.maxconn,
    // In a container: one thread per whole CPU of the limit (at least 1). Locally: HAProxy's default.
    nbthread: inPod ? Math.min(MAX_THREADS, Math.max(1, Math.floor(toMillicores(h.resources.limits.cpu) / 1000))) : undefined,
    statsSocket: target.kind === 'local' ? target.statsSocket : `${HAPROXY.runDir}/admin.sock`,
    hardStopAfterSeconds: HAPROXY.hardStopAfterSeconds,
    bind: { address, port: target.kind === 'local' ? target.port : HAPROXY.httpPort },
    monitorUri: HAPROXY.monitorUri,
    stats: { address, port: target.kind === 'local' ? target.statsPort : HAPROXY.statsPort, uri: HAPROXY.statsUri, metricsPath: HAPROXY.metricsPath },
    retries: h.retries,
    timeouts: h.timeouts,
    healthCheck,
    resolvers,
    backends,
  };
}

/**
 * Longest time (seconds) from a web pod turning Ready to HAProxy sending it traffic in a cluster:
 * the cluster DNS TTL, then HAProxy's `hold valid` before it asks again, then `rise` health checks
 * `inter` apart. Kubernetes does not wait for it (a pod is available once Ready), so the web
 * Deployment's `minReadySeconds` is set to it: without that, a rollout finishes and the next pod
 * to go (a rollout step, an eviction, a crash) can be the only one HAProxy knows, leaving it with
 * no server ("503 No server is available to handle this request").
 */
export function serverDiscoverySeconds(env: EnvironmentConfig): number {
  const h = env.haproxy.healthCheck;
  return CLUSTER_DNS_TTL_SECONDS + HOLD_VALID_SECONDS + h.rise * h.intervalSeconds;
}

/**
 * Renders `haproxy.cfg` text for an environment and target (deterministic).
 * @throws HaproxyConfigError as `loadBalancerSpec` and `buildLoadBalancerConfig`
 */
export function renderHaproxyConfig(env: EnvironmentConfig, target: HaproxyTarget): string {
  return renderLoadBalancer(loadBalancerSpec(env, target));
}
