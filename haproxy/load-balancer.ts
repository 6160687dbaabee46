/**
 * The expense tracker's load balancer as a typed model, and its translation into `haproxy.cfg`.
 *
 * Layout of the rendered file (HAProxy 2.6 keywords):
 * - `global`: logs to stdout, `maxconn`, a runtime API socket, `hard-stop-after`;
 * - `defaults`: `mode http`, `option httplog`, `option forwardfor`, `option redispatch 1`,
 *   `retries`, `retry-on conn-failure empty-response 503` (idempotent methods only), timeouts;
 * - `resolvers <name>` (Kubernetes target): nameservers from `/etc/resolv.conf`;
 * - `frontend http-in`: the public listener, its own health URI (`monitor-uri`), ACL path
 *   routing (`/api` and `/api/...` → backend `api`, everything else → backend `web`);
 * - one backend per route: `balance`, `option httpchk GET <readyz>`, `http-check expect status 200`,
 *   `default-server inter … fall … rise …`, then either `server-template` lines resolved through
 *   DNS or static `server` lines (optionally `backup`);
 * - `frontend stats`: the stats page and the Prometheus exporter (`use-service prometheus-exporter`).
 */
import { duration, HaproxyConfig, HaproxyConfigError, type Section } from './config-builder.js';

/** Backend `balance` algorithms offered by the model (HAProxy 2.6 manual, `balance`). */
export type BalanceAlgorithm = 'roundrobin' | 'leastconn';

/** Servers addressed through DNS: `server-template <prefix> <count> <fqdn>:<port> check resolvers <r> [resolve-prefer <family>] init-addr none`. */
export interface ServerTemplateSource {
  readonly kind: 'template';
  /** Server name prefix; servers are named `<prefix>1` … `<prefix><count>`. */
  readonly prefix: string;
  /** Number of server slots (1–256). */
  readonly count: number;
  /** Fully qualified name of a headless Service (one A record per ready pod). */
  readonly fqdn: string;
  /** TCP port of the servers. */
  readonly port: number;
  /** Name of the `resolvers` section used for runtime resolution. */
  readonly resolvers: string;
  /**
   * `resolve-prefer`: address family queried first (`ipv4` avoids a useless AAAA query per
   * resolution in an IPv4 cluster).
   * @default - HAProxy's default (ipv6 first, then ipv4)
   */
  readonly resolvePrefer?: 'ipv4' | 'ipv6';
}

/** One static server line. */
export interface StaticServer {
  /** Server name, unique inside its backend (appears in logs and metrics). */
  readonly name: string;
  /** IPv4/IPv6 address or host name resolved once at start-up. */
  readonly address: string;
  /** TCP port. */
  readonly port: number;
  /**
   * `backup`: used only when every non-backup server is down.
   * @default false
   */
  readonly backup?: boolean;
}

/** Fixed servers: `server <name> <address>:<port> check [backup]`. */
export interface StaticServerSource {
  readonly kind: 'static';
  readonly servers: readonly StaticServer[];
}

export type ServerSource = ServerTemplateSource | StaticServerSource;

/** One backend and the requests routed to it. */
export interface BackendSpec {
  /** Backend (proxy) name, e.g. `web`, `api`. */
  readonly name: string;
  /** What this backend serves, printed as a comment. */
  readonly description: string;
  readonly balance: BalanceAlgorithm;
  /**
   * Path prefixes routed here (`/api` matches `/api` and `/api/...`, not `/apiary`); the
   * backend with no prefixes is the frontend's `default_backend`.
   */
  readonly pathPrefixes: readonly string[];
  readonly servers: ServerSource;
  /**
   * `timeout server` of this backend, seconds: how long a server may stay silent, e.g. while it
   * receives a long upload before answering.
   * @default the defaults' `timeouts.serverSeconds`
   */
  readonly serverTimeoutSeconds?: number;
  /**
   * Largest request body on this backend's paths, bytes: a larger `Content-Length` is refused
   * with 413 in the frontend before anything reaches a server (a chunked body is left to the app).
   * @default no limit
   */
  readonly maxBodyBytes?: number;
}

/** One `nameserver <name> <address>:<port>` line (UDP). */
export interface Nameserver {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

/** A `resolvers` section: nameservers from `/etc/resolv.conf` (`parse-resolv-conf`) and/or listed ones. */
export interface ResolversSpec {
  readonly name: string;
  /** `parse-resolv-conf`: use the nameservers of the process's `/etc/resolv.conf` (in a pod: the cluster DNS). */
  readonly parseResolvConf: boolean;
  /**
   * Explicit nameservers, after those of resolv.conf.
   * @default []
   */
  readonly nameservers?: readonly Nameserver[];
  /** `hold valid`: seconds a resolution result is trusted before re-resolving. */
  readonly holdValidSeconds: number;
  /** `hold nx|refused|timeout|other`: seconds a resolution error is tolerated before the servers go DOWN. */
  readonly holdErrorSeconds: number;
  /** `hold obsolete`: seconds a record missing from answers keeps its server slot (the slot then returns to maintenance). */
  readonly holdObsoleteSeconds: number;
  /** `accepted_payload_size` in bytes (EDNS0); large enough for one A record per pod. */
  readonly acceptedPayloadSize: number;
}

/** Everything `buildLoadBalancerConfig` needs. Durations are seconds, sizes bytes. */
export interface LoadBalancerSpec {
  /** Comment lines at the top of the file. */
  readonly header: readonly string[];
  /** `global maxconn` (also bounds the frontend). */
  readonly maxconn: number;
  /**
   * `global nbthread`: worker threads.
   * @default - HAProxy's default, one thread per CPU it may run on
   */
  readonly nbthread?: number;
  /** Path of the runtime API socket (`stats socket`); its directory must be writable. */
  readonly statsSocket: string;
  /** `hard-stop-after`: upper bound of a soft stop (SIGUSR1) before lingering connections are closed. */
  readonly hardStopAfterSeconds: number;
  /** Public listener `address:port`; an empty address binds every interface (`:8080`). */
  readonly bind: { readonly address: string; readonly port: number };
  /** Path answered by HAProxy itself with 200 (`monitor-uri`): the probes' target. */
  readonly monitorUri: string;
  /** Stats page + Prometheus exporter listener. */
  readonly stats: { readonly address: string; readonly port: number; readonly uri: string; readonly metricsPath: string };
  readonly retries: number;
  readonly timeouts: {
    readonly connectSeconds: number;
    readonly clientSeconds: number;
    readonly serverSeconds: number;
    readonly httpRequestSeconds: number;
    readonly httpKeepAliveSeconds: number;
    readonly queueSeconds: number;
  };
  /** Active health check: `GET <path>` must answer 200. */
  readonly healthCheck: { readonly path: string; readonly intervalSeconds: number; readonly fall: number; readonly rise: number };
  /** Required when any backend uses a `template` server source. */
  readonly resolvers?: ResolversSpec;
  /** Backends; exactly one has no `pathPrefixes` (the default backend). */
  readonly backends: readonly BackendSpec[];
}

/** Name of the public frontend. */
export const FRONTEND_NAME = 'http-in';
/** Name of the stats/metrics frontend. */
export const STATS_FRONTEND_NAME = 'stats';

const PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

function checkPort(field: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new HaproxyConfigError(`${field} must be a TCP port (1-65535), got ${port}`);
}

function checkPath(field: string, path: string): void {
  if (!PATH.test(path) || /['\\]/.test(path)) throw new HaproxyConfigError(`${field} must be an absolute URL path, got ${JSON.stringify(path)}`);
}

function checkPositiveInt(field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) throw new HaproxyConfigError(`${field} must be an integer from 1 to ${max}, got ${value}`);
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Checks the cross-field rules of a spec. @throws HaproxyConfigError naming the field */
function validateSpec(spec: LoadBalancerSpec): void {
  checkPositiveInt('maxconn', spec.maxconn, 1_000_000);
  if (spec.nbthread !== undefined) checkPositiveInt('nbthread', spec.nbthread, 64);
  checkPort('bind.port', spec.bind.port);
  checkPort('stats.port', spec.stats.port);
  if (spec.bind.port === spec.stats.port && spec.bind.address === spec.stats.address) {
    throw new HaproxyConfigError('stats.port must differ from bind.port');
  }
  checkPath('monitorUri', spec.monitorUri);
  checkPath('stats.uri', spec.stats.uri);
  checkPath('stats.metricsPath', spec.stats.metricsPath);
  checkPath('healthCheck.path', spec.healthCheck.path);
  if (!Number.isInteger(spec.retries) || spec.retries < 0) throw new HaproxyConfigError(`retries must be a non-negative integer, got ${spec.retries}`);
  checkPositiveInt('healthCheck.fall', spec.healthCheck.fall, 100);
  checkPositiveInt('healthCheck.rise', spec.healthCheck.rise, 100);
  if (spec.backends.length === 0) throw new HaproxyConfigError('backends must not be empty');
  if (spec.resolvers) {
    if (!spec.resolvers.parseResolvConf && (spec.resolvers.nameservers ?? []).length === 0) {
      throw new HaproxyConfigError('resolvers: needs parseResolvConf or at least one nameserver');
    }
    for (const n of spec.resolvers.nameservers ?? []) checkPort(`resolvers.nameservers.${n.name}.port`, n.port);
  }
  const defaults = spec.backends.filter((b) => b.pathPrefixes.length === 0);
  if (defaults.length !== 1) {
    throw new HaproxyConfigError(`exactly one backend must have no pathPrefixes (the default backend), found ${defaults.length}`);
  }
  const names = new Set<string>();
  const prefixes = new Set<string>();
  for (const b of spec.backends) {
    if ([FRONTEND_NAME, STATS_FRONTEND_NAME].includes(b.name) || names.has(b.name)) {
      throw new HaproxyConfigError(`backends: duplicate or reserved name ${JSON.stringify(b.name)}`);
    }
    names.add(b.name);
    if (b.serverTimeoutSeconds !== undefined) checkPositiveInt(`backends.${b.name}.serverTimeoutSeconds`, b.serverTimeoutSeconds, 86_400);
    if (b.maxBodyBytes !== undefined && (!Number.isSafeInteger(b.maxBodyBytes) || b.maxBodyBytes <= 0)) {
      throw new HaproxyConfigError(`backends.${b.name}.maxBodyBytes must be a positive integer, got ${b.maxBodyBytes}`);
    }
    if (b.maxBodyBytes !== undefined && b.pathPrefixes.length === 0) {
      throw new HaproxyConfigError(`backends.${b.name}.maxBodyBytes needs pathPrefixes (the default backend has no path to limit)`);
    }
    for (const p of b.pathPrefixes) {
      checkPath(`backends.${b.name}.pathPrefixes`, p);
      if (p === '/' || p.endsWith('/')) throw new HaproxyConfigError(`backends.${b.name}.pathPrefixes: ${p} must not end with "/"`);
      if (p === spec.monitorUri) throw new HaproxyConfigError(`backends.${b.name}.pathPrefixes: ${p} is the monitorUri`);
      if (prefixes.has(p)) throw new HaproxyConfigError(`backends.${b.name}.pathPrefixes: ${p} is routed twice`);
      prefixes.add(p);
    }
    const s = b.servers;
    if (s.kind === 'template') {
      checkPositiveInt(`backends.${b.name}.servers.count`, s.count, 256);
      checkPort(`backends.${b.name}.servers.port`, s.port);
      if (!spec.resolvers || spec.resolvers.name !== s.resolvers) {
        throw new HaproxyConfigError(`backends.${b.name}.servers.resolvers: no resolvers section named ${JSON.stringify(s.resolvers)}`);
      }
    } else {
      if (s.servers.length === 0) throw new HaproxyConfigError(`backends.${b.name}.servers must not be empty`);
      if (s.servers.every((x) => x.backup)) throw new HaproxyConfigError(`backends.${b.name}.servers: at least one server must not be a backup`);
      const serverNames = new Set<string>();
      for (const x of s.servers) {
        if (serverNames.has(x.name)) throw new HaproxyConfigError(`backends.${b.name}.servers: duplicate server name ${x.name}`);
        serverNames.add(x.name);
        checkPort(`backends.${b.name}.servers.${x.name}.port`, x.port);
      }
    }
  }
}

/**
 * Builds the configuration document for a load balancer spec.
 * @throws HaproxyConfigError naming the offending field (ports, paths, duplicate names,
 *   missing default backend, template servers without a matching resolvers section, …)
 */
export function buildLoadBalancerConfig(spec: LoadBalancerSpec): HaproxyConfig {
  validateSpec(spec);
  const cfg = new HaproxyConfig(spec.header);
  const t = spec.timeouts;

  const g = cfg.section('global', undefined, ['Process-wide settings.']);
  g
    .line('log', ['stdout', 'format', 'raw', 'local0', 'info'], 'Log to stdout (HAProxy >= 1.9): the container runtime or `npm run local` collects it.')
    .line('maxconn', [spec.maxconn], 'Concurrent connections this process accepts; more wait in the kernel backlog.');
  if (spec.nbthread !== undefined) {
    g.line('nbthread', [spec.nbthread], 'Sized to the container CPU limit: HAProxy would otherwise start one thread per node CPU.');
  }
  g
    .line('stats', ['socket', spec.statsSocket, 'mode', '600', 'level', 'admin'], 'Runtime API (show stat, set server state drain, ...); its directory must be writable.')
    .line('stats', ['timeout', '30s'])
    .line('hard-stop-after', [duration(spec.hardStopAfterSeconds)], 'A soft stop (SIGUSR1) closes what is still open after this long.');

  const d = cfg.section('defaults', undefined, ['Defaults for every proxy below.']);
  d.line('mode', ['http'])
    .line('log', ['global'])
    .line('option', ['httplog'], 'One line per request: timers, status, bytes, termination state, server.')
    .line('option', ['dontlognull'])
    .line('option', ['forwardfor'], 'Tell the app the client address (X-Forwarded-For).')
    .blank()
    .line('option', ['redispatch', '1'], 'A retried request goes to another server, not the one that just failed.')
    .line('retries', [spec.retries])
    .comment('Retry when a server closed the connection without answering (killed or restarting instance),')
    .comment('or answered 503 (the app does while it drains on SIGTERM). Non-idempotent requests are')
    .comment('excluded in the frontend (disable-l7-retry): they are retried only if never sent.')
    .line('retry-on', ['conn-failure', 'empty-response', '503'])
    .blank()
    .line('timeout connect', [duration(t.connectSeconds)])
    .line('timeout client', [duration(t.clientSeconds)])
    .line('timeout server', [duration(t.serverSeconds)])
    .line('timeout http-request', [duration(t.httpRequestSeconds)], 'Whole request headers must arrive within this (slowloris protection).')
    .line('timeout http-keep-alive', [duration(t.httpKeepAliveSeconds)])
    .line('timeout queue', [duration(t.queueSeconds)])
    .line('timeout check', [duration(Math.min(t.connectSeconds, spec.healthCheck.intervalSeconds))]);

  if (spec.resolvers) {
    const r = spec.resolvers;
    const rs = cfg.section('resolvers', r.name, [
      'Runtime DNS resolution of server-template names: pods that appear or disappear',
      'behind the headless Service are picked up without a reload.',
    ]);
    if (r.parseResolvConf) rs.line('parse-resolv-conf', [], "The pod's /etc/resolv.conf names the cluster DNS (kube-dns / CoreDNS).");
    for (const n of r.nameservers ?? []) rs.line('nameserver', [n.name, hostPort(n.address, n.port)]);
    rs.line('accepted_payload_size', [r.acceptedPayloadSize], 'EDNS0 payload: room for one A record per pod.')
      .line('resolve_retries', [3])
      .line('timeout resolve', ['1s'], 'Re-resolve every second: new pods get a slot within about a second.')
      .line('timeout retry', ['1s'])
      .line('hold valid', [duration(r.holdValidSeconds)])
      .line('hold other', [duration(r.holdErrorSeconds)], 'A DNS hiccup does not take servers DOWN for this long.')
      .line('hold refused', [duration(r.holdErrorSeconds)])
      .line('hold nx', [duration(r.holdErrorSeconds)])
      .line('hold timeout', [duration(r.holdErrorSeconds)])
      .line('hold obsolete', [duration(r.holdObsoleteSeconds)], 'A pod gone from DNS keeps its slot this long (health checks mark it DOWN first).');
  }

  const fe = cfg.section('frontend', FRONTEND_NAME, ['Public entry point.']);
  fe.line('bind', [hostPort(spec.bind.address, spec.bind.port)])
    .line('monitor-uri', [spec.monitorUri], "HAProxy's own health endpoint (liveness/readiness probes); never forwarded, never logged.")
    .blank()
    .line(
      'http-request',
      ['disable-l7-retry', 'unless', '{', 'method', 'GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', '}'],
      'Only idempotent methods are replayed after an empty response or a 503; a POST or PATCH is retried only if it never reached a server.',
    );
  const routed = spec.backends.filter((b) => b.pathPrefixes.length > 0);
  for (const b of routed) {
    fe.blank().comment(`${b.pathPrefixes.join(', ')} and everything below → backend ${b.name}`);
    const acl = `is_${b.name.replace(/[^A-Za-z0-9_]/g, '_')}`;
    for (const p of b.pathPrefixes) {
      fe.line('acl', [acl, 'path', p]).line('acl', [acl, 'path_beg', `${p}/`]);
    }
    if (b.maxBodyBytes !== undefined) {
      fe.line(
        'http-request',
        // req.hdr_val() converts to a 32-bit integer (a 16 GiB length wraps below the limit); the
        // add(0) converter reads the header as HAProxy's 64-bit signed integer.
        ['deny', 'deny_status', 413, 'if', acl, '{', 'req.fhdr(content-length),add(0)', 'gt', b.maxBodyBytes, '}'],
        `Bodies above ${b.maxBodyBytes} bytes are refused here, before a server reads any of them.`,
      );
    }
    fe.line('use_backend', [b.name, 'if', acl]);
  }
  const fallback = spec.backends.find((b) => b.pathPrefixes.length === 0)!;
  fe.line('default_backend', [fallback.name]);

  for (const b of spec.backends) {
    const be = cfg.section('backend', b.name, [b.description]);
    be.line('balance', [b.balance])
      .line('option', ['httpchk', 'GET', spec.healthCheck.path], "Health check: the app's readiness endpoint (false while it drains on SIGTERM).")
      .line('http-check', ['expect', 'status', 200])
      .line(
        'default-server',
        ['inter', duration(spec.healthCheck.intervalSeconds), 'fall', spec.healthCheck.fall, 'rise', spec.healthCheck.rise],
        `Check every ${spec.healthCheck.intervalSeconds}s; DOWN after ${spec.healthCheck.fall} failures, UP after ${spec.healthCheck.rise} successes.`,
      );
    if (b.serverTimeoutSeconds !== undefined) {
      be.line('timeout server', [duration(b.serverTimeoutSeconds)], 'The server answers only once it has read the whole body.');
    }
    addServers(be, b.servers);
  }

  cfg
    .section('frontend', STATS_FRONTEND_NAME, ['Stats page and Prometheus metrics (HAProxy built with USE_PROMEX).'])
    .line('bind', [hostPort(spec.stats.address, spec.stats.port)])
    .line('http-request', ['set-log-level', 'silent'], 'Scrapes and stats views are not access-logged.')
    .line('http-request', ['use-service', 'prometheus-exporter', 'if', '{', 'path', spec.stats.metricsPath, '}'], 'Prometheus text format, per frontend, backend and server.')
    .line('stats', ['enable'])
    .line('stats', ['uri', spec.stats.uri])
    .line('stats', ['refresh', '10s'])
    .line('stats', ['hide-version']);
  return cfg;
}

function addServers(be: Section, source: ServerSource): void {
  if (source.kind === 'template') {
    be.line(
      'server-template',
      [
        source.prefix,
        source.count,
        `${source.fqdn}:${source.port}`,
        'check',
        'resolvers',
        source.resolvers,
        ...(source.resolvePrefer ? ['resolve-prefer', source.resolvePrefer] : []),
        'init-addr',
        'none',
      ],
      `${source.count} slots filled from DNS; unused slots stay in maintenance. init-addr none: start before the names resolve.`,
    );
    return;
  }
  for (const s of source.servers) {
    be.line('server', [s.name, hostPort(s.address, s.port), 'check', ...(s.backup ? ['backup'] : [])], s.backup ? 'Used only when every other server is DOWN.' : undefined);
  }
}

/**
 * Renders a load balancer spec to `haproxy.cfg` text.
 * @throws HaproxyConfigError as `buildLoadBalancerConfig`
 */
export function renderLoadBalancer(spec: LoadBalancerSpec): string {
  return buildLoadBalancerConfig(spec).render();
}
