/**
 * `haproxy.cfg` for an environment, from the same validated model as the charts
 * (`EnvironmentConfig.haproxy`), for two targets:
 *
 * - `kubernetes`: servers are `server-template` slots resolved at runtime from the headless
 *   Service `expense-web-headless.<namespace>.svc.cluster.local` through `resolvers kubedns`;
 *   the cfg is mounted from a ConfigMap at `/usr/local/etc/haproxy/haproxy.cfg`.
 * - `local`: `server webN 127.0.0.1:<port> check` lines for app processes on loopback
 *   (`npm run local`, the integration tests and the benchmark).
 *
 * Routing is the same for both: `/api` and `/api/...` go to backend `api`, everything else
 * (pages, assets) to backend `web`; both backends reach the same app instances but keep their
 * own balance algorithm, health checks and statistics.
 */
import { APP_PORT, READY_PATH } from '@expense-tracker/model/app-contract';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { toMillicores } from '@expense-tracker/model/quantities';
import { HaproxyConfigError } from './config-builder.js';
import { renderLoadBalancer, type BackendSpec, type LoadBalancerSpec, type ServerSource } from './load-balancer.js';

/** Port of the public frontend inside the HAProxy pod (non-root: above 1024). */
export const HAPROXY_HTTP_PORT = 8080;
/** Port of the stats page and Prometheus exporter inside the HAProxy pod. */
export const HAPROXY_STATS_PORT = 8404;
/** HAProxy's own health endpoint (`monitor-uri`), the target of its probes. */
export const HAPROXY_MONITOR_URI = '/haproxy-healthz';
/** Path of the Prometheus exporter on the stats port. */
export const HAPROXY_METRICS_PATH = '/metrics';
/** Path of the HTML stats page on the stats port. */
export const HAPROXY_STATS_URI = '/stats';
/** Where the official image reads its configuration. */
export const HAPROXY_CONFIG_PATH = '/usr/local/etc/haproxy/haproxy.cfg';
/** Directory of the runtime API socket in the pod (an emptyDir: the root filesystem is read-only). */
export const HAPROXY_RUN_DIR = '/var/run/haproxy';
/** Name of the headless Service whose A records are the web pods. */
export const WEB_HEADLESS_SERVICE = 'expense-web-headless';
/** Name of the `resolvers` section of the Kubernetes target. */
export const KUBE_RESOLVERS = 'kubedns';
/** Path prefix routed to the `api` backend. */
export const API_PATH_PREFIX = '/api';
/** Seconds a soft stop may take before HAProxy closes what is left (`hard-stop-after`). */
export const HAPROXY_HARD_STOP_AFTER_SECONDS = 25;

/** Render for a cluster: DNS-discovered servers behind the headless Service. */
export interface KubernetesTarget {
  readonly kind: 'kubernetes';
  /**
   * Cluster DNS domain.
   * @default 'cluster.local'
   */
  readonly clusterDomain?: string;
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

export type HaproxyTarget = KubernetesTarget | LocalTarget;

/**
 * Maps an environment and a target to a load balancer spec.
 * @throws HaproxyConfigError when HAProxy is disabled for the environment or a local target has no instance
 */
export function loadBalancerSpec(env: EnvironmentConfig, target: HaproxyTarget): LoadBalancerSpec {
  const h = env.haproxy;
  if (!h.enabled) throw new HaproxyConfigError(`environment "${env.name}": haproxy.enabled is false`);
  const header = [
    `haproxy.cfg for environment "${env.name}", target ${target.kind}.`,
    'Generated from the environment model (model/environments/): edit the model, not this file.',
  ];
  let servers: ServerSource;
  let bind: LoadBalancerSpec['bind'];
  let stats: LoadBalancerSpec['stats'];
  let statsSocket: string;
  let healthCheck = { path: READY_PATH, intervalSeconds: h.healthCheck.intervalSeconds, fall: h.healthCheck.fall, rise: h.healthCheck.rise };
  if (target.kind === 'kubernetes') {
    const domain = target.clusterDomain ?? 'cluster.local';
    servers = {
      kind: 'template',
      prefix: 'web',
      count: h.serverSlots,
      fqdn: `${WEB_HEADLESS_SERVICE}.${env.namespace}.svc.${domain}`,
      port: APP_PORT,
      resolvers: KUBE_RESOLVERS,
      // Kubernetes Services on minikube and IKS are IPv4 (single-stack).
      resolvePrefer: 'ipv4',
    };
    bind = { address: '', port: HAPROXY_HTTP_PORT };
    stats = { address: '', port: HAPROXY_STATS_PORT, uri: HAPROXY_STATS_URI, metricsPath: HAPROXY_METRICS_PATH };
    statsSocket = `${HAPROXY_RUN_DIR}/admin.sock`;
  } else {
    if (target.instances.length === 0) throw new HaproxyConfigError('local target: instances must not be empty');
    const address = target.address ?? '127.0.0.1';
    let primary = 0;
    let backup = 0;
    servers = {
      kind: 'static',
      servers: target.instances.map((i) =>
        i.backup ? { name: `web-backup${++backup}`, address: '127.0.0.1', port: i.port, backup: true } : { name: `web${++primary}`, address: '127.0.0.1', port: i.port },
      ),
    };
    bind = { address, port: target.port };
    stats = { address, port: target.statsPort, uri: HAPROXY_STATS_URI, metricsPath: HAPROXY_METRICS_PATH };
    statsSocket = target.statsSocket;
    healthCheck = { ...healthCheck, ...target.healthCheck };
  }
  const backends: BackendSpec[] = [
    { name: 'api', description: `JSON API (${API_PATH_PREFIX}/...).`, balance: h.balance.api, pathPrefixes: [API_PATH_PREFIX], servers },
    { name: 'web', description: 'Server-rendered pages and everything not routed elsewhere.', balance: h.balance.web, pathPrefixes: [], servers },
  ];
  return {
    header,
    maxconn: h.maxconn,
    // In a pod: one thread per whole CPU of the limit (at least 1). Locally: HAProxy's default.
    nbthread: target.kind === 'kubernetes' ? Math.max(1, Math.floor(toMillicores(h.resources.limits.cpu) / 1000)) : undefined,
    statsSocket,
    hardStopAfterSeconds: HAPROXY_HARD_STOP_AFTER_SECONDS,
    bind,
    monitorUri: HAPROXY_MONITOR_URI,
    stats,
    retries: h.retries,
    timeouts: h.timeouts,
    healthCheck,
    resolvers:
      target.kind === 'kubernetes'
        ? { name: KUBE_RESOLVERS, parseResolvConf: true, holdValidSeconds: 10, holdErrorSeconds: 30, holdObsoleteSeconds: 30, acceptedPayloadSize: 8192 }
        : undefined,
    backends,
  };
}

/**
 * Renders `haproxy.cfg` text for an environment and target (deterministic).
 * @throws HaproxyConfigError as `loadBalancerSpec` and `buildLoadBalancerConfig`
 */
export function renderHaproxyConfig(env: EnvironmentConfig, target: HaproxyTarget): string {
  return renderLoadBalancer(loadBalancerSpec(env, target));
}
