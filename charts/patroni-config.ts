/**
 * Patroni's configuration file for the expense tracker's PostgreSQL cluster, from typed
 * settings (https://patroni.readthedocs.io/en/latest/yaml_configuration.html, Patroni 4.x).
 *
 * What is the same for every member lives here (DCS, bootstrap, PostgreSQL parameters,
 * replica creation); what differs per member comes from Patroni's environment variables
 * (`PATRONI_NAME`, `PATRONI_KUBERNETES_POD_IP`, `PATRONI_POSTGRESQL_CONNECT_ADDRESS`,
 * `PATRONI_RESTAPI_CONNECT_ADDRESS`, passwords), which the StatefulSet sets from the Downward
 * API and Secrets. The database tests run Patroni on loopback with this same renderer.
 *
 * The DCS is the Kubernetes API (`kubernetes:` section): the leader lock, the cluster config
 * and the synchronous-standby state are ConfigMaps `<scope>-leader`, `<scope>-config`,
 * `<scope>-sync` and `<scope>-failover`; member state is an annotation on each Pod, and the
 * role is the Pod label `role` (`primary` / `replica`), which the Services select on. Without an
 * API server (the docker-compose topology) the DCS is etcd v3 (`etcd3:` section) and HAProxy
 * finds the primary through Patroni's REST API instead of labels.
 */

/** Pod label Patroni keeps equal to the member's role. */
export const PATRONI_ROLE_LABEL = 'role';
/** `role` value of the member that holds the leader lock. */
export const PATRONI_PRIMARY_ROLE = 'primary';
/** `role` value of the streaming replicas. */
export const PATRONI_REPLICA_ROLE = 'replica';
/** Label Patroni puts the scope (cluster name) in. */
export const PATRONI_SCOPE_LABEL = 'cluster-name';
/** User streaming replicas connect as. */
export const REPLICATION_USER = 'replicator';

/** Patroni's HA timing, in seconds (`ttl`, `loop_wait`, `retry_timeout`). */
export interface PatroniTiming {
  readonly ttlSeconds: number;
  readonly loopWaitSeconds: number;
  readonly retryTimeoutSeconds: number;
}

/** Settings of `patroniConfig`. */
export interface PatroniConfigSettings {
  /** Cluster name (Patroni `scope`); prefix of the DCS ConfigMaps. */
  readonly scope: string;
  /**
   * Namespace of the pods and DCS objects (the `kubernetes` DCS).
   * @default - none; required with the `kubernetes` DCS
   */
  readonly namespace?: string;
  /**
   * Labels that select the members' pods; Patroni lists members by them (the `kubernetes` DCS).
   * @default - none; required with the `kubernetes` DCS
   */
  readonly podLabels?: Readonly<Record<string, string>>;
  /** PGDATA. */
  readonly dataDir: string;
  /** Directory of `postgres`, `pg_ctl`, `initdb`, `pg_rewind`, `pg_basebackup`. */
  readonly binDir: string;
  /** Unix socket directory. */
  readonly socketDir: string;
  /** Writable file for Patroni's `.pgpass` (an emptyDir in pods). */
  readonly pgpassFile: string;
  /**
   * Keep one synchronous standby: a commit is acknowledged only once a replica has it, so
   * failover to that replica loses no acknowledged transaction
   * (https://patroni.readthedocs.io/en/latest/replication_modes.html).
   * @default true
   */
  readonly synchronousMode?: boolean;
  /**
   * Refuse writes when no synchronous standby is available (true) or fall back to
   * asynchronous replication (false) when the last replica is gone.
   * @default false
   */
  readonly synchronousModeStrict?: boolean;
  /**
   * Leader lock TTL, HA loop period and DCS/PostgreSQL retry timeout, in seconds.
   * @default DEFAULT_PATRONI_TIMING
   */
  readonly timing?: PatroniTiming;
  /**
   * Continuous WAL archiving and replica creation through pgBackRest: the stanza and the
   * `pgbackrest.conf` path (`PGBACKREST_CONFIG` must point at it).
   * @default - no archiving; replicas are created with pg_basebackup
   */
  readonly pgbackrest?: { readonly stanza: string };
  /**
   * Where Patroni keeps its leader lock and cluster state: the Kubernetes API (`namespace`,
   * `podLabels`), or an etcd v3 cluster (`etcd3`: `host:port` client endpoints) where there is no
   * API server, e.g. the docker-compose topology.
   * @default 'kubernetes'
   */
  readonly dcs?: 'kubernetes' | { readonly etcd3: { readonly hosts: readonly string[] } };
  /**
   * Extra PostgreSQL parameters (`bootstrap.dcs.postgresql.parameters`), e.g. `shared_buffers`.
   * @default {}
   */
  readonly parameters?: Readonly<Record<string, string | number | boolean>>;
  /**
   * Command run once on the new primary after initdb with a libpq URL as its argument
   * (creates the application role and database).
   * @default - none
   */
  readonly postBootstrap?: string;
}

/** Default HA timing (Patroni's defaults: ttl 30, loop_wait 10, retry_timeout 10). */
export const DEFAULT_PATRONI_TIMING = { ttlSeconds: 30, loopWaitSeconds: 10, retryTimeoutSeconds: 10 } as const;

/**
 * The configuration object (serialize it as YAML).
 * @throws Error naming the field when `ttl < loop_wait + 2 * retry_timeout` (Patroni's rule:
 *   otherwise a leader can lose its lock while still retrying), a path is not absolute, the
 *   `kubernetes` DCS lacks `namespace`/`podLabels` or the `etcd3` DCS has no host.
 */
export function patroniConfig(s: PatroniConfigSettings): Record<string, unknown> {
  const t = s.timing ?? DEFAULT_PATRONI_TIMING;
  if (t.ttlSeconds < t.loopWaitSeconds + 2 * t.retryTimeoutSeconds) {
    throw new Error(`timing.ttlSeconds (${t.ttlSeconds}) must be at least loopWaitSeconds + 2 × retryTimeoutSeconds (${t.loopWaitSeconds + 2 * t.retryTimeoutSeconds})`);
  }
  for (const [field, value] of [['dataDir', s.dataDir], ['binDir', s.binDir], ['socketDir', s.socketDir], ['pgpassFile', s.pgpassFile]] as const) {
    if (!value.startsWith('/')) throw new Error(`${field} must be an absolute path, got "${value}"`);
  }
  const archive = s.pgbackrest
    ? {
        archive_mode: 'on',
        archive_command: `pgbackrest --stanza=${s.pgbackrest.stanza} archive-push %p`,
        // A quiet database still ships a WAL segment at least once a minute, bounding what a restore can lose.
        archive_timeout: 60,
      }
    : {};
  const replicaMethods = s.pgbackrest ? ['pgbackrest', 'basebackup'] : ['basebackup'];
  const dcs = s.dcs ?? 'kubernetes';
  if (dcs !== 'kubernetes' && dcs.etcd3.hosts.length === 0) throw new Error('dcs.etcd3.hosts must name at least one etcd endpoint');
  return {
    scope: s.scope,
    ...(dcs === 'kubernetes' ? { kubernetes: kubernetesDcs(s) } : { etcd3: { hosts: [...dcs.etcd3.hosts] } }),
    bootstrap: {
      dcs: {
        ttl: t.ttlSeconds,
        loop_wait: t.loopWaitSeconds,
        retry_timeout: t.retryTimeoutSeconds,
        // Never promote a replica more than 1 MiB behind (only relevant when no synchronous standby is up).
        maximum_lag_on_failover: 1048576,
        synchronous_mode: s.synchronousMode ?? true,
        synchronous_mode_strict: s.synchronousModeStrict ?? false,
        synchronous_node_count: 1,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: {
            wal_level: 'replica',
            hot_standby: 'on',
            wal_log_hints: 'on',
            max_wal_senders: 10,
            max_replication_slots: 10,
            wal_keep_size: '128MB',
            password_encryption: 'scram-sha-256',
            ...archive,
            ...s.parameters,
          },
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }, 'data-checksums'],
      ...(s.postBootstrap ? { post_bootstrap: s.postBootstrap } : {}),
    },
    postgresql: {
      data_dir: s.dataDir,
      bin_dir: s.binDir,
      pgpass: s.pgpassFile,
      authentication: {
        superuser: { username: 'postgres' },
        replication: { username: REPLICATION_USER },
      },
      parameters: { unix_socket_directories: s.socketDir },
      pg_hba: [
        // Patroni, pg_rewind and pgBackRest connect through the socket as the superuser.
        'local all postgres trust',
        `host replication ${REPLICATION_USER} 0.0.0.0/0 scram-sha-256`,
        'host all all 0.0.0.0/0 scram-sha-256',
      ],
      create_replica_methods: replicaMethods,
      ...(s.pgbackrest
        ? {
            // Restores the newest backup, then streams the rest; basebackup is the fallback before the first backup.
            pgbackrest: { command: `pgbackrest --stanza=${s.pgbackrest.stanza} --delta restore`, keep_data: true, no_params: true },
            recovery_conf: { restore_command: `pgbackrest --stanza=${s.pgbackrest.stanza} archive-get %f "%p"` },
          }
        : {}),
      basebackup: [{ checkpoint: 'fast' }],
    },
    // No hardware watchdog in a container.
    watchdog: { mode: 'off' },
  };
}

/** The `kubernetes` DCS section: the Pod labels and role label values the Services select on. */
function kubernetesDcs(s: PatroniConfigSettings): Record<string, unknown> {
  if (s.namespace === undefined || s.podLabels === undefined) throw new Error('namespace and podLabels are required with the kubernetes DCS');
  return {
    namespace: s.namespace,
    labels: { ...s.podLabels },
    scope_label: PATRONI_SCOPE_LABEL,
    role_label: PATRONI_ROLE_LABEL,
    leader_label_value: PATRONI_PRIMARY_ROLE,
    follower_label_value: PATRONI_REPLICA_ROLE,
    standby_leader_label_value: PATRONI_PRIMARY_ROLE,
    use_endpoints: false,
  };
}

/** One RBAC rule (the fields of `rbac.authorization.k8s.io/v1` PolicyRule that Patroni needs). */
export interface PatroniPolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

/**
 * The least privilege Patroni's Kubernetes DCS needs in its namespace with `use_endpoints: false`:
 * ConfigMaps for the leader lock, cluster config, sync state and failover requests (delete: for
 * `patronictl remove`), and Pods to read members and patch their own `role` label and
 * `status` annotation. No Secrets, no Endpoints, no Services, nothing cluster-wide.
 */
export function patroniPolicyRules(): PatroniPolicyRule[] {
  return [
    { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get', 'list', 'patch', 'update', 'watch', 'delete'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'patch', 'update', 'watch'] },
  ];
}

/** Target of a point-in-time restore. */
export interface RestoreTarget {
  readonly stanza: string;
  /**
   * Recover up to this moment (`YYYY-MM-DD HH:MM:SS[.ffffff]+TZ`, PostgreSQL's
   * `recovery_target_time`) and promote; without it, replay every archived WAL segment.
   * @default - the end of the archive
   */
  readonly targetTime?: string;
}

/** `recovery_target_time` grammar this tool accepts: an ISO-like timestamp with an explicit zone. */
export const RECOVERY_TARGET_TIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)$/;

/**
 * A configuration fragment (merged after the main file) that makes a member with an empty
 * data directory bootstrap from the pgBackRest repository instead of initdb: Patroni's custom
 * bootstrap (https://patroni.readthedocs.io/en/latest/replica_bootstrap.html#bootstrap).
 * pgBackRest restores the base backup; Patroni writes the recovery settings, replays WAL up
 * to the target, promotes and takes the leader lock. Only used while the DCS has no cluster
 * (a fresh or wiped cluster); the other members then clone the restored primary.
 * @throws Error when `targetTime` lacks a time zone or is malformed.
 */
export function patroniRestoreFragment(target: RestoreTarget): Record<string, unknown> {
  if (target.targetTime !== undefined && !RECOVERY_TARGET_TIME.test(target.targetTime)) {
    throw new Error(`restore target time must look like "2026-11-30 04:47:27+00" (with a time zone), got "${target.targetTime}"`);
  }
  const recovery: Record<string, string> = { restore_command: `pgbackrest --stanza=${target.stanza} archive-get %f "%p"` };
  if (target.targetTime !== undefined) {
    recovery.recovery_target_time = target.targetTime;
    recovery.recovery_target_action = 'promote';
    recovery.recovery_target_inclusive = 'true';
  }
  return {
    bootstrap: {
      method: 'pgbackrest_restore',
      pgbackrest_restore: {
        // `--type=none`: pgBackRest restores files only; Patroni owns the recovery settings below.
        command: `pgbackrest --stanza=${target.stanza} --delta --type=none restore`,
        no_params: true,
        keep_existing_recovery_conf: false,
        recovery_conf: recovery,
      },
    },
  };
}
