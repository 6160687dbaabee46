/**
 * HAProxy in front of a Patroni cluster, the seeds' topology: a TCP `listen` section that
 * forwards PostgreSQL connections only to the member whose Patroni REST API answers
 * `GET /primary` with 200 (https://patroni.readthedocs.io/en/latest/rest_api.html#health-check-endpoints),
 * and optionally a second one for the replicas (`GET /replica`).
 *
 * Health checks are HTTP against Patroni's port while the traffic is TCP to PostgreSQL's
 * (`check port <api>`); `on-marked-down shutdown-sessions` cuts the connections of a demoted
 * primary at once, so clients reconnect to the new one instead of writing to a read-only replica.
 * Used by the docker-compose topology of `local` with `postgres.mode=ha`; in Kubernetes the
 * Services follow Patroni's role labels instead.
 */
import { duration, type HaproxyConfig } from './config-builder.js';

/** One Patroni member as HAProxy reaches it. */
export interface PatroniMember {
  /** `server` name, e.g. `postgres-0`. */
  readonly name: string;
  /** Host name or address (a compose service name, an IP). */
  readonly host: string;
  /** PostgreSQL port. */
  readonly postgresPort: number;
  /** Patroni REST API port. */
  readonly apiPort: number;
}

/** Settings of `addPatroniListen`. */
export interface PatroniListenSpec {
  /** `listen` section name, e.g. `postgres` or `postgres-replicas`. */
  readonly name: string;
  /** `bind` address, e.g. `*:5432` or `127.0.0.1:15432`. */
  readonly bind: string;
  readonly members: readonly PatroniMember[];
  /**
   * Which members serve: the primary (`GET /primary`) or the streaming replicas (`GET /replica`).
   * @default 'primary'
   */
  readonly role?: 'primary' | 'replica';
  /**
   * Check timing (seconds, counts).
   * @default { intervalSeconds: 3, fall: 3, rise: 2 } (Patroni's documented HAProxy example)
   */
  readonly healthCheck?: { readonly intervalSeconds: number; readonly fall: number; readonly rise: number };
  /**
   * `resolvers` section that re-resolves the members' host names at runtime (a container that
   * restarts may come back with another address); servers start without an address when a name
   * does not resolve yet (`init-addr last,libc,none`).
   * @default - names resolved once, at start-up
   */
  readonly resolvers?: string;
  /**
   * `timeout client`/`timeout server` of the long-lived PostgreSQL connections, in seconds.
   * @default 1800
   */
  readonly idleTimeoutSeconds?: number;
}

/**
 * Adds `listen <name>` in `mode tcp` with `option httpchk GET /primary` (or `/replica`).
 * @throws HaproxyConfigError (from the builder) for malformed names; Error for no members or bad ports.
 */
export function addPatroniListen(cfg: HaproxyConfig, spec: PatroniListenSpec): void {
  if (spec.members.length === 0) throw new Error(`listen ${spec.name}: needs at least one Patroni member`);
  for (const m of spec.members) {
    for (const [field, port] of [['postgresPort', m.postgresPort], ['apiPort', m.apiPort]] as const) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`listen ${spec.name}: member ${m.name} ${field} must be a TCP port, got ${port}`);
    }
  }
  const role = spec.role ?? 'primary';
  const hc = spec.healthCheck ?? { intervalSeconds: 3, fall: 3, rise: 2 };
  const idle = duration(spec.idleTimeoutSeconds ?? 1800);
  const s = cfg.section('listen', spec.name, [`PostgreSQL ${role === 'primary' ? 'read-write (the Patroni leader only)' : 'read-only (streaming replicas)'}`]);
  s.line('mode', ['tcp'])
    .line('bind', [spec.bind])
    .line('timeout client', [idle])
    .line('timeout server', [idle])
    .line('option httpchk', ['GET', `/${role}`], "Patroni's REST API: 200 only on a member in this role")
    .line('http-check expect', ['status', 200])
    .line('default-server', ['inter', duration(hc.intervalSeconds), 'fall', hc.fall, 'rise', hc.rise, 'on-marked-down', 'shutdown-sessions']);
  if (role === 'replica') s.line('balance', ['roundrobin']);
  const resolve = spec.resolvers ? ['resolvers', spec.resolvers, 'init-addr', 'last,libc,none'] : [];
  for (const m of spec.members) s.line('server', [m.name, `${m.host}:${m.postgresPort}`, 'check', 'port', m.apiPort, ...resolve]);
}
