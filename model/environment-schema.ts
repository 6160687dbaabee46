/**
 * The environment schema: every setting of an environment, its grammar and every rule between
 * settings, in one zod schema. Anything it accepts synthesizes; anything it rejects is reported
 * by `loadEnvironment` as a `ConfigError` naming the field path (`web.preStopSleepSeconds: …`).
 *
 * The sub-schemas are exported so constructs can validate their props with the same rules.
 * Units: durations in whole seconds, CPU as Kubernetes quantities (`250m`, `1`), memory and
 * storage in bytes with a binary suffix (`128Mi`, `20Gi`).
 */
import { z } from 'zod';
import { IMAGE_DIGEST, IMAGE_REPOSITORY, IMAGE_TAG } from './images.js';
import { monitoringSchema } from './monitoring.js';
import { DNS_LABEL, DNS_SUBDOMAIN, instanceName } from './naming.js';
import { CPU_QUANTITY, MEMORY_QUANTITY, STORAGE_QUANTITY, toBytes, toMillicores } from './quantities.js';

const MIB = 2 ** 20;

/** An integer within `[min, max]`. */
const integer = (min: number, max: number) =>
  z.number().int('must be an integer').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
/** A whole number of seconds within `[min, max]`. */
const seconds = (min: number, max: number) =>
  z.number().int('must be a whole number of seconds').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

const cpuQuantity = z
  .string()
  .regex(CPU_QUANTITY, { message: 'must be a CPU quantity such as "250m" or "1"', abort: true })
  .refine((cpu) => toMillicores(cpu) > 0, 'must be more than 0');
const memoryQuantity = z
  .string()
  .regex(MEMORY_QUANTITY, { message: 'must be a memory quantity such as "128Mi" or "1Gi"', abort: true })
  .refine((memory) => toBytes(memory) % MIB === 0, 'must be a whole number of MiB, e.g. "128Mi"');
const storageQuantity = z.string().regex(STORAGE_QUANTITY, 'must be a storage quantity such as "1Gi" or "20Gi"');

const resourceList = z.strictObject({ cpu: cpuQuantity, memory: memoryQuantity });

/** Container requests and limits (https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/). */
export const resourcesSchema = z
  .strictObject({ requests: resourceList, limits: resourceList })
  .refine((r) => toMillicores(r.requests.cpu) <= toMillicores(r.limits.cpu), {
    message: 'requests.cpu must not exceed limits.cpu',
    path: ['requests', 'cpu'],
  })
  .refine((r) => toBytes(r.requests.memory) <= toBytes(r.limits.memory), {
    message: 'requests.memory must not exceed limits.memory',
    path: ['requests', 'memory'],
  });
export type ResourceSettings = z.infer<typeof resourcesSchema>;

/**
 * One container image, Bitnami-values style: `repository`, `tag`, optional `digest`, `pullPolicy`.
 * Rendered as `repository:tag[@digest]` (see `ImageReference` in images.ts).
 */
export const imageSchema = z.strictObject({
  /** Registry and repository without tag, e.g. `localhost:5000/expense-tracker`, `postgres`. */
  repository: z.string().regex(IMAGE_REPOSITORY, 'must be an image repository without tag, e.g. "localhost:5000/expense-tracker"'),
  /** Immutable tag; never `latest`. */
  tag: z.string().regex(IMAGE_TAG, 'must be a valid image tag').refine((tag) => tag !== 'latest', 'must not be "latest": deploy an immutable tag'),
  /** Content digest (`sha256:…`) pinning the tag's content; empty for none. */
  digest: z.union([z.literal(''), z.string().regex(IMAGE_DIGEST, 'must be a digest such as "sha256:<64 hex digits>"')]),
  /** `imagePullPolicy` of the containers running it. */
  pullPolicy: z.enum(['IfNotPresent', 'Always', 'Never']),
});
export type ImageSettings = z.infer<typeof imageSchema>;

/** The web tier (Deployment `expense-web`). */
export const webSchema = z
  .strictObject({
    replicas: integer(1, 100),
    resources: resourcesSchema,
    /** Seconds Kubernetes waits after SIGTERM before SIGKILL. */
    terminationGracePeriodSeconds: seconds(5, 600),
    /** Seconds the preStop hook sleeps so endpoints are removed before SIGTERM. */
    preStopSleepSeconds: seconds(0, 60),
  })
  .superRefine((web, ctx) => {
    // The preStop sleep counts against the grace period; the app needs time left to drain.
    if (web.preStopSleepSeconds >= web.terminationGracePeriodSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['preStopSleepSeconds'],
        message: `must be less than terminationGracePeriodSeconds (${web.terminationGracePeriodSeconds}) so requests in flight can finish after the sleep`,
      });
    }
  });
export type WebSettings = z.infer<typeof webSchema>;

const sqlIdentifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier');

/** A five-field cron expression (minute hour day-of-month month day-of-week), as CronJob `schedule` reads it. */
export const CRON_SCHEDULE = /^(\S+\s+){4}\S+$/;
/** IPv4 CIDR, e.g. `10.0.0.1/32`. */
export const IPV4_CIDR = /^(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\/(?:[0-9]|[12][0-9]|3[0-2])$/;
const ipv4Cidr = z.string().regex(IPV4_CIDR, 'must be an IPv4 CIDR such as "10.0.0.1/32"');
/** pgBackRest stanza names we accept (they become repository paths): lower case, digits, `-`, `_`. */
export const STANZA_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

const cronSchedule = z.string().regex(CRON_SCHEDULE, 'must be a five-field cron expression such as "15 1 * * 0"');

/**
 * Patroni's HA timing (https://patroni.readthedocs.io/en/latest/dynamic_configuration.html):
 * the leader lock's time to live, the HA loop period and the DCS/PostgreSQL retry timeout, in
 * seconds. Patroni's rule: `ttlSeconds >= loopWaitSeconds + 2 * retryTimeoutSeconds`, otherwise a
 * leader may lose its lock while still retrying.
 */
export const patroniTimingSchema = z
  .strictObject({ ttlSeconds: seconds(10, 3600), loopWaitSeconds: seconds(1, 300), retryTimeoutSeconds: seconds(1, 600) })
  .refine((t) => t.ttlSeconds >= t.loopWaitSeconds + 2 * t.retryTimeoutSeconds, {
    message: 'must be at least loopWaitSeconds + 2 × retryTimeoutSeconds (Patroni: a leader must not lose its lock while retrying)',
    path: ['ttlSeconds'],
  });

/** The Patroni cluster of `postgres.mode: ha` (PostgresHa in charts/postgres-ha.ts). */
export const postgresHaSchema = z.strictObject({
  /** Image with PostgreSQL 15, Patroni 4 and pgBackRest (`PATRONI_IMAGE_CONTRACT`). */
  image: imageSchema,
  /** Members: one primary, the others streaming replicas (one of them synchronous). */
  members: integer(2, 9),
  /** Pod anti-affinity across nodes: `required` never puts two members on one node; `preferred` spreads when it can. */
  antiAffinity: z.enum(['required', 'preferred']),
  /** Patroni `synchronous_mode`: a commit is acknowledged once a second member has it. */
  synchronousMode: z.boolean(),
  timing: patroniTimingSchema,
  /**
   * Where the members (Patroni's DCS) and the backup jobs reach the Kubernetes API, as egress
   * NetworkPolicies see it: after Service translation, i.e. the `kubernetes` Service's endpoints
   * (`kubectl get endpoints kubernetes -n default`), address blocks and their port.
   */
  apiServer: z.strictObject({ cidrs: z.array(ipv4Cidr).min(1, 'must name at least one address block'), port: integer(1, 65535) }),
});
export type PostgresHaSettings = z.infer<typeof postgresHaSchema>;

/**
 * Continuous WAL archiving and scheduled backups with pgBackRest; `postgres.mode: ha` only. The
 * repository is an S3-compatible object store (IBM Cloud Object Storage, AWS S3, MinIO, …; the
 * HMAC keys come from the Secret `postgres-backup-s3`, `npm run create-secrets` or the Pulumi
 * component) or a PersistentVolumeClaim every member mounts (`pvc`).
 */
export const postgresBackupSchema = z.strictObject({
  enabled: z.boolean(),
  /** pgBackRest stanza (one per PostgreSQL cluster; part of the repository's paths). */
  stanza: z.string().regex(STANZA_NAME, 'must be lower-case letters, digits, "-" or "_", starting with a letter'),
  /** Where the repository is: `s3` (`postgres.backup.s3`) or `pvc` (`postgres.backup.pvc`, pgBackRest's `posix` type). */
  repository: z.enum(['s3', 'pvc']),
  /**
   * The PersistentVolumeClaim `postgres-backup-repository` of a `pvc` repository, mounted by every
   * member (archive_command runs in the primary, replicas restore from it). `ReadWriteOnce` is
   * mounted on one node only: members on several nodes need `ReadWriteMany` (a file StorageClass).
   */
  pvc: z.strictObject({
    storage: storageQuantity,
    storageClassName: z.string().regex(DNS_SUBDOMAIN, 'must be a StorageClass name'),
    accessMode: z.enum(['ReadWriteOnce', 'ReadWriteMany']),
  }),
  s3: z.strictObject({
    /** Endpoint host name without scheme or port, e.g. `s3.direct.us-south.cloud-object-storage.appdomain.cloud`. */
    endpoint: z.string().regex(DNS_SUBDOMAIN, 'must be a host name without scheme or port, e.g. "s3.us-south.cloud-object-storage.appdomain.cloud"'),
    /** HTTPS port of the endpoint. */
    port: integer(1, 65535),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3–63 lower-case letters, digits, "." or "-")'),
    /** Region the endpoint expects in request signatures (IBM COS: the bucket's location, e.g. `us-south`). */
    region: z.string().regex(/^[a-z0-9-]+$/, 'must be a region name such as "us-south"'),
    /** Path prefix of the repository in the bucket. */
    path: z.string().regex(/^\/[A-Za-z0-9._/-]*$/, 'must be an absolute path of [A-Za-z0-9._/-], e.g. "/pgbackrest"'),
    /** `host`: `<bucket>.<endpoint>` (virtual-hosted); `path`: `<endpoint>/<bucket>`. */
    uriStyle: z.enum(['host', 'path']),
    /** ConfigMap whose `ca.crt` is the CA to trust for the endpoint (a private CA); empty for the image's trust store. */
    caConfigMap: z.union([z.literal(''), z.string().regex(DNS_SUBDOMAIN, 'must be a ConfigMap name')]),
    /** Address blocks the endpoint answers from (the members' egress NetworkPolicy); empty for any public IPv4 address. */
    cidrs: z.array(ipv4Cidr),
  }),
  /** Backups pgBackRest keeps (`repo1-retention-full`, `repo1-retention-diff`); older WAL expires with them. */
  retention: z.strictObject({ full: integer(1, 9_999_999), diff: integer(1, 9_999_999) }),
  /** CronJob schedules (UTC) of the full and differential backups. */
  schedule: z.strictObject({ full: cronSchedule, diff: cronSchedule }),
  /** Image of the backup CronJobs (`kubectl`, which runs pgBackRest in the current primary). */
  kubectlImage: imageSchema,
});
export type PostgresBackupSettings = z.infer<typeof postgresBackupSchema>;

/**
 * Why a `pvc` repository cannot serve these members: a `ReadWriteOnce` volume attaches to one
 * node, and `antiAffinity: required` puts every member on its own node.
 * @returns the message, or undefined when the combination works.
 */
export function readWriteOnceRepositoryIssue(
  backup: Pick<PostgresBackupSettings, 'repository' | 'pvc'>,
  ha: Pick<PostgresHaSettings, 'antiAffinity' | 'members'>,
): string | undefined {
  if (backup.repository !== 'pvc' || backup.pvc.accessMode !== 'ReadWriteOnce' || ha.antiAffinity !== 'required' || ha.members < 2) return undefined;
  return 'a ReadWriteOnce repository volume is mounted on one node only, but postgres.ha.antiAffinity=required puts each member on its own node: use ReadWriteMany (a file StorageClass), postgres.backup.repository=s3, or antiAffinity preferred';
}

/** PostgreSQL: StatefulSet `postgres`, one pod (`single`) or a Patroni cluster (`ha`). */
export const postgresSchema = z
  .strictObject({
    /** `single`: one PostgreSQL pod (`Postgres`); `ha`: a Patroni cluster (`PostgresHa`) with optional backups. */
    mode: z.enum(['single', 'ha']),
    /** Image of `single` mode (the official `postgres` image family). */
    image: imageSchema,
    database: sqlIdentifier,
    username: sqlIdentifier,
    /** Size of the `data` volumeClaimTemplate (of each member in `ha` mode). */
    storage: storageQuantity,
    storageClassName: z.string().regex(DNS_SUBDOMAIN, 'must be a StorageClass name'),
    /** Requests and limits of the postgres container (of each member in `ha` mode). */
    resources: resourcesSchema,
    ha: postgresHaSchema,
    backup: postgresBackupSchema,
  })
  .superRefine((pg, ctx) => {
    if (pg.backup.enabled && pg.mode !== 'ha') {
      ctx.addIssue({
        code: 'custom',
        path: ['backup', 'enabled'],
        message: 'backups run with Patroni: set postgres.mode=ha, or postgres.backup.enabled=false',
      });
    }
    const rwoIssue = readWriteOnceRepositoryIssue(pg.backup, pg.ha);
    if (pg.backup.enabled && rwoIssue) ctx.addIssue({ code: 'custom', path: ['backup', 'pvc', 'accessMode'], message: rwoIssue });
  });
export type PostgresSettings = z.infer<typeof postgresSchema>;

/** Redis (Deployment `redis`). */
export const redisSchema = z.strictObject({
  image: imageSchema,
  /** Keep data on the PVC `redis-data` (append-only file) instead of an emptyDir. */
  persistence: z.strictObject({
    enabled: z.boolean(),
    storage: storageQuantity,
    storageClassName: z.string().regex(DNS_SUBDOMAIN, 'must be a StorageClass name'),
  }),
  resources: resourcesSchema,
});
export type RedisSettings = z.infer<typeof redisSchema>;

/** The Ingress in front of the app (or of HAProxy). */
export const ingressSchema = z.strictObject({
  className: z.string().regex(DNS_SUBDOMAIN, 'must be an IngressClass name'),
  host: z.string().regex(DNS_SUBDOMAIN, 'must be a DNS host name such as "expense.local"'),
  /** Name of a `kubernetes.io/tls` Secret; empty for plain HTTP. */
  tlsSecretName: z.union([z.literal(''), z.string().regex(DNS_SUBDOMAIN, 'must be a Secret name')]),
});
export type IngressSettings = z.infer<typeof ingressSchema>;

/** HAProxy in front of the web pods. Durations are whole seconds. */
export const haproxySchema = z.strictObject({
  /** Deploy HAProxy; when false the Ingress targets the `expense-web` Service directly. */
  enabled: z.boolean(),
  /**
   * `behind-ingress`: Ingress → Service `haproxy` → HAProxy → web pods (the Ingress keeps TLS
   * and host routing). `replaces-ingress`: no Ingress; Service `haproxy` is type LoadBalancer.
   */
  placement: z.enum(['behind-ingress', 'replaces-ingress']),
  image: imageSchema,
  replicas: integer(1, 20),
  resources: resourcesSchema,
  /** `global maxconn`: concurrent connections per HAProxy process. */
  maxconn: integer(100, 100_000),
  /**
   * `server-template` slots per backend: the most web pods HAProxy can address at once.
   * Must cover `web.replicas` plus the rolling update's surge pod.
   */
  serverSlots: integer(1, 256),
  /** `balance` algorithm of each backend: pages (`web`) and the JSON API (`api`). */
  balance: z.strictObject({ web: z.enum(['roundrobin', 'leastconn']), api: z.enum(['roundrobin', 'leastconn']) }),
  /** `retries`: connection attempts after a failure (each redispatched to another server). */
  retries: integer(0, 10),
  timeouts: z.strictObject({
    connectSeconds: seconds(1, 60),
    clientSeconds: seconds(1, 3600),
    serverSeconds: seconds(1, 3600),
    httpRequestSeconds: seconds(1, 300),
    httpKeepAliveSeconds: seconds(1, 300),
    queueSeconds: seconds(1, 300),
  }),
  /** Active health checks (`default-server inter <i> fall <f> rise <r>`) against the app's readiness path. */
  healthCheck: z.strictObject({
    intervalSeconds: seconds(1, 60),
    fall: integer(1, 10),
    rise: integer(1, 10),
  }),
  /**
   * Namespaces allowed to scrape the stats/metrics port (NetworkPolicy), besides
   * `monitoring.prometheus.namespace` when monitoring is enabled; empty for none.
   */
  metricsScrapeNamespaces: z.array(z.string().regex(DNS_LABEL, 'must be a DNS label')),
});
export type HaproxySettings = z.infer<typeof haproxySchema>;

/**
 * CSV bulk import (docs/app.md "Imports"): the staging PersistentVolumeClaim shared by the web and
 * worker pods, the worker Deployment, the upload limits the app enforces and the Ingress/HAProxy
 * settings of the import path. Sizes are bytes with a binary suffix.
 */
export const importsSchema = z.strictObject({
  /** Deploy the staging volume and the worker and set `IMPORT_*`; when false the import API answers 503. */
  enabled: z.boolean(),
  /** Largest file (`IMPORT_MAX_BYTES`); also the body limit of the import path in the Ingress and HAProxy. */
  maxBytes: storageQuantity,
  /** Files up to this size are imported by the web pod right after the upload (`IMPORT_INLINE_MAX_BYTES`); larger ones by a worker. */
  inlineMaxBytes: storageQuantity,
  /** Seconds a worker holds an import without renewing; a dead worker's import resumes after it (`IMPORT_LEASE_SECONDS`). */
  leaseSeconds: seconds(3, 3600),
  /** Unfinished imports a user may have at once (`IMPORT_USER_MAX_ACTIVE`). */
  userMaxActive: integer(1, 1000),
  /** Bytes a user may upload in any 24 hours (`IMPORT_USER_DAILY_BYTES`). */
  userDailyBytes: storageQuantity,
  /** Hours a failed import keeps its staged file for a retry (`IMPORT_FAILED_RETENTION_HOURS`). */
  failedRetentionHours: integer(0, 24 * 365),
  /** Seconds an upload may take through the Ingress and HAProxy (read/send and server timeouts of the import path). */
  uploadTimeoutSeconds: seconds(60, 86_400),
  /** The staging area: PVC `expense-import-staging`, mounted by every web and worker pod. */
  staging: z.strictObject({
    storage: storageQuantity,
    storageClassName: z.string().regex(DNS_SUBDOMAIN, 'must be a StorageClass name'),
    /**
     * `ReadWriteMany` when web and worker pods may run on different nodes (a file storage class);
     * `ReadWriteOnce` only on a single-node cluster (every pod then mounts it on that node).
     */
    accessMode: z.enum(['ReadWriteOnce', 'ReadWriteMany']),
    /** Free space the app keeps on the volume (`IMPORT_STAGING_RESERVE_BYTES`). */
    reserve: storageQuantity,
  }),
  /** The worker Deployment `expense-import-worker`. */
  worker: z.strictObject({
    replicas: integer(1, 20),
    resources: resourcesSchema,
    /** Seconds between SIGTERM and SIGKILL: a worker pauses its import at the next checkpoint (a chunk: seconds). */
    terminationGracePeriodSeconds: seconds(10, 600),
  }),
});
export type ImportsSettings = z.infer<typeof importsSchema>;

/** Settings the app reads from `expense-config`. */
export const appSchema = z.strictObject({
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']),
  mailFrom: z.email('must be an e-mail address'),
  /** E-mail address that becomes admin when it registers; empty for none. */
  adminEmail: z.union([z.literal(''), z.email('must be an e-mail address')]),
});
export type AppSettings = z.infer<typeof appSchema>;

/** Longest environment name whose instance label (`expense-tracker-<name>`) is still a 63-character label value. */
const MAX_NAME_LENGTH = 63 - instanceName('').length;

export const environmentSchema = z
  .strictObject({
    /** Environment name; `app.kubernetes.io/instance` is `expense-tracker-<name>`, output goes to `dist/<name>`. */
    name: z
      .string()
      .regex(DNS_LABEL, 'must be a DNS label')
      .max(MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters (it becomes part of the instance label)`),
    /** Namespace every object lives in. */
    namespace: z.string().regex(DNS_LABEL, 'must be a DNS label (lower case, digits, "-", at most 63 characters)'),
    /** The app image. */
    image: imageSchema,
    web: webSchema,
    postgres: postgresSchema,
    redis: redisSchema,
    ingress: ingressSchema,
    /** Namespace of the ingress controller, allowed through the NetworkPolicies. */
    ingressControllerNamespace: z.string().regex(DNS_LABEL, 'must be a DNS label'),
    haproxy: haproxySchema,
    app: appSchema,
    imports: importsSchema,
    /** The docker-compose topology (`dist/<name>/compose/`): web × replicas behind HAProxy, PostgreSQL, Redis. */
    compose: z.strictObject({ enabled: z.boolean() }),
    /** Prometheus Operator monitors, rules, exporters and Grafana dashboards (model/monitoring.ts). */
    monitoring: monitoringSchema,
  })
  .superRefine((env, ctx) => {
    // A rolling update (maxSurge 1) briefly runs replicas + 1 web pods; each needs a server slot.
    if (env.haproxy.enabled && env.haproxy.serverSlots < env.web.replicas + 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['haproxy', 'serverSlots'],
        message: `must be at least web.replicas + 1 (${env.web.replicas + 1}) so every web pod, including the rolling update's surge pod, gets a server slot`,
      });
    }
    // The largest file plus the reserve the app keeps free must fit on the staging volume.
    // (Only when all three are quantities: a malformed one is already reported on its own field.)
    const bytes = (q: string) => (STORAGE_QUANTITY.test(q) ? toBytes(q) : Number.NaN);
    const i = env.imports;
    if (i.enabled && bytes(i.maxBytes) + bytes(i.staging.reserve) > bytes(i.staging.storage)) {
      ctx.addIssue({
        code: 'custom',
        path: ['imports', 'staging', 'storage'],
        message: `must hold imports.maxBytes (${env.imports.maxBytes}) plus imports.staging.reserve (${env.imports.staging.reserve})`,
      });
    }
    if (env.compose.enabled && !env.haproxy.enabled) {
      ctx.addIssue({
        code: 'custom',
        path: ['compose', 'enabled'],
        message: 'the compose topology puts HAProxy in front of the web replicas: set haproxy.enabled=true or compose.enabled=false',
      });
    }
  });

/** A fully validated environment. */
export type EnvironmentConfig = z.infer<typeof environmentSchema>;
/** What an environment file writes: any subset of the settings, merged over the base. */
export type EnvironmentOverrides = DeepPartial<Omit<EnvironmentConfig, 'name'>>;
/** The shared base: every setting except the name. */
export type EnvironmentBase = Omit<EnvironmentConfig, 'name'>;

/** Objects become partial at every depth; arrays and scalars are replaced whole. */
export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** Raised for any invalid configuration; `issues` name the environment and field paths. */
export class ConfigError extends Error {
  constructor(
    readonly environment: string,
    readonly issues: readonly string[],
  ) {
    super(`invalid configuration for environment "${environment}":\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** `path: message` lines for a zod error, paths relative to `prefix` (unknown keys as `path.key: unknown field`). */
export function formatIssues(error: z.ZodError, prefix: readonly (string | number)[] = []): string[] {
  return error.issues.map((issue) => {
    const path = [...prefix, ...issue.path].map(String).join('.') || '(root)';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => `${path === '(root)' ? '' : `${path}.`}${k}: unknown field`).join('; ');
    }
    return `${path}: ${issue.message}`;
  });
}

/**
 * Validates an arbitrary object against the environment schema.
 * @throws ConfigError listing `path: message` for each problem
 */
export function validateEnvironment(raw: unknown, name = 'custom'): EnvironmentConfig {
  const parsed = environmentSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new ConfigError(name, formatIssues(parsed.error));
}
