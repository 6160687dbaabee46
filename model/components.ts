/**
 * The deployment's components: the names users and other components address them by (Service
 * DNS names, `kubectl` names, compose service names), their ports, their label identity and the
 * numeric user their pods run as. Charts, the compose topology, the HAProxy configuration and
 * the tests all read them here.
 *
 * UIDs: every pod runs as its own UID/GID above 10000 (kube-score and checkov ask for it: no
 * clash with an account of the node), never the image's built-in user (`*_IMAGE_UID` in
 * images.ts). The official images support that when their writable directories are volumes
 * (docs/security.md, "Running as any UID").
 */

import { POSTGRES_PORT } from './app-contract.js';

/** The app's web tier. */
export const WEB = {
  /** Deployment, Service, PodDisruptionBudget and Ingress `metadata.name`. */
  name: 'expense-web',
  /** Headless Service whose A records (one per ready pod) fill HAProxy's server slots. */
  headlessServiceName: 'expense-web-headless',
  /** ConfigMap with the app's non-secret settings (consumed with `envFrom`). */
  configMapName: 'expense-config',
  /** Port of Service `expense-web` (→ the container's named port `http`). */
  servicePort: 80,
  /** `app.kubernetes.io/name` and `/component`. */
  identity: { name: 'expense-tracker', component: 'web' },
} as const;

/** The CSV import worker and the staging area it shares with the web pods. */
export const IMPORT_WORKER = {
  /** Deployment `metadata.name`; `kubectl exec deploy/expense-import-worker -- node dist/imports/cli.js …`. */
  name: 'expense-import-worker',
  /** PersistentVolumeClaim of the staging area (mounted by web and worker pods). */
  stagingClaimName: 'expense-import-staging',
  /** Ingress of the import path, with its own body size and timeouts. */
  ingressName: 'expense-imports',
  /** Name of the staging volume in pod specs. */
  stagingVolumeName: 'import-staging',
  identity: { name: 'expense-tracker', component: 'import-worker' },
} as const;

/** PostgreSQL. */
export const POSTGRES = {
  /** StatefulSet and ClusterIP Service `metadata.name`; the app's `PGHOST`. */
  name: 'postgres',
  /** Headless Service, the StatefulSet's `serviceName`. */
  headlessServiceName: 'postgres-headless',
  /** Where the official image keeps its data (its `VOLUME`): the data volume's mount path. */
  dataMountPath: '/var/lib/postgresql/data',
  /** `PGDATA`: a subdirectory of the mount, so a volume's `lost+found` never confuses initdb. */
  pgdata: '/var/lib/postgresql/data/pgdata',
  port: POSTGRES_PORT,
  portName: 'postgresql',
  identity: { name: 'postgresql', component: 'database' },
  /** `runAsUser`/`runAsGroup`/`fsGroup` of the pods. */
  uid: 10002,
} as const;

/**
 * PostgreSQL in `ha` mode (a Patroni cluster): the names beyond `POSTGRES` (whose StatefulSet,
 * Service `postgres` and headless Service it keeps, so clients see no difference).
 */
export const POSTGRES_HA = {
  /** Read-only Service over the streaming replicas. */
  replicasServiceName: 'postgres-replicas',
  /** Patroni `scope`: its DCS ConfigMaps are `<scope>-leader`, `-config`, `-sync`, `-failover`. */
  scope: 'postgres',
  /** ServiceAccount of the members (Patroni uses the Kubernetes API as its DCS). */
  serviceAccountName: 'postgres',
  /** Role and RoleBinding granting that ServiceAccount what Patroni's Kubernetes DCS needs. */
  roleName: 'postgres-patroni',
  /** ConfigMap with `patroni.yaml`, `run.sh` and `post-bootstrap.sh`. */
  patroniConfigMapName: 'postgres-patroni',
  /** ConfigMap with `pgbackrest.conf` (with backups); `npm run db` reads the stanza from it. */
  pgbackrestConfigMapName: 'postgres-pgbackrest',
  /** Patroni REST API port (`/primary`, `/replica`, `/readiness`, `/liveness`), named `patroni`. */
  apiPort: 8008,
  apiPortName: 'patroni',
  /** Secret with Patroni's own passwords. */
  patroniSecret: { name: 'postgres-patroni', keys: { superuserPassword: 'superuser-password', replicationPassword: 'replication-password' } },
  /** Secret with the HMAC keys of the backup repository (S3). */
  backupS3Secret: { name: 'postgres-backup-s3', keys: { accessKey: 'access-key', secretKey: 'secret-key' } },
  /** PersistentVolumeClaim of a `pvc` backup repository, mounted by every member. */
  backupRepositoryClaimName: 'postgres-backup-repository',
  /** CronJobs `<prefix>-full` and `<prefix>-diff`, their ServiceAccount and Role. */
  backupName: 'postgres-backup',
  /** ConfigMap present only while `npm run db -- restore` runs (Patroni's restore bootstrap). */
  restoreConfigMapName: 'postgres-restore',
  identity: POSTGRES.identity,
} as const;

/**
 * etcd v3, Patroni's DCS where no Kubernetes API is at hand (the docker-compose topology with
 * `postgres.mode: ha`). Ports are etcd's registered defaults (https://etcd.io/docs/v3.5/op-guide/configuration/).
 */
export const ETCD = {
  /** Compose service name, the host of Patroni's `etcd3.hosts`. */
  name: 'etcd',
  /** Client URL port (the v3 gRPC gateway Patroni's `etcd3` DCS speaks JSON to). */
  clientPort: 2379,
  /** Peer URL port (a one-member cluster: loopback only). */
  peerPort: 2380,
  /** Where the data volume is mounted; etcd's `--data-dir` is a subdirectory of it. */
  dataMountPath: '/var/lib/etcd',
  /** User and group it runs as. */
  uid: 10379,
} as const;

/** Redis. */
export const REDIS = {
  /** Deployment and Service `metadata.name`; the host of the app's `REDIS_URL`. */
  name: 'redis',
  /** PersistentVolumeClaim when persistence is on. */
  claimName: 'redis-data',
  port: 6379,
  portName: 'redis',
  identity: { name: 'redis', component: 'cache' },
  /** `runAsUser`/`runAsGroup`/`fsGroup` of the pods. */
  uid: 10003,
} as const;

/**
 * The Prometheus exporters in front of PostgreSQL and Redis (`monitoring.enabled`): Deployment,
 * Service, ServiceMonitor `metadata.name` and scrape `job`; the port each listens on (the
 * upstream default, named `metrics`). They run as their images' own user (`USER nobody` and
 * `USER 59000:59000` upstream), the exception to the UIDs above.
 */
export const POSTGRES_EXPORTER = { name: 'postgres-exporter', port: 9187, uid: 65534 } as const;
export const REDIS_EXPORTER = {
  name: 'redis-exporter',
  port: 9121,
  uid: 59000,
  /**
   * Its `--redis.password-file`: the JSON map of addresses to passwords it reads, written by its
   * init container into a memory-backed emptyDir.
   */
  passwordMapFile: '/run/redis-exporter/password-map.json',
} as const;

/**
 * HAProxy in front of the web pods. Ports are above 1024 (non-root); paths are those of the
 * official image (https://hub.docker.com/_/haproxy).
 */
export const HAPROXY = {
  /** Deployment, Service and PodDisruptionBudget `metadata.name`. */
  name: 'haproxy',
  /** ClusterIP Service of the stats page and Prometheus exporter. */
  statsServiceName: 'haproxy-stats',
  /** ConfigMap holding `haproxy.cfg`. */
  configMapName: 'haproxy-config',
  /** Public frontend port in the pod (named `http`). */
  httpPort: 8080,
  /** Stats page and Prometheus exporter port in the pod (named `stats`). */
  statsPort: 8404,
  /** Port of Service `haproxy` (→ `http`). */
  servicePort: 80,
  /** HAProxy's own health endpoint (`monitor-uri`), the target of its probes. */
  monitorUri: '/haproxy-healthz',
  /** Prometheus exporter path on the stats port. */
  metricsPath: '/metrics',
  /** HTML stats page path on the stats port. */
  statsUri: '/stats',
  /** Where the official image reads its configuration. */
  configPath: '/usr/local/etc/haproxy/haproxy.cfg',
  /** Directory of the runtime API socket (writable: an emptyDir under a read-only root). */
  runDir: '/var/run/haproxy',
  /** Seconds a soft stop (SIGUSR1) may take before HAProxy closes what is left (`hard-stop-after`). */
  hardStopAfterSeconds: 25,
  /** Path prefix routed to the `api` backend (`/api` and `/api/...`). */
  apiPathPrefix: '/api',
  identity: { name: 'haproxy', component: 'load-balancer' },
  /** `runAsUser`/`runAsGroup`/`fsGroup` of the pods. */
  uid: 10004,
} as const;
