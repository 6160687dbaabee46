import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import { SECRETS } from '@expense-tracker/model/app-contract';
import { formatImageReference, PINNED_IMAGES } from '@expense-tracker/model/images';
import { type ComponentIdentity, recommendedLabels, RUNTIME_LABELS_ANNOTATION, selectorLabels } from '@expense-tracker/model/naming';
import { STORAGE_QUANTITY } from '@expense-tracker/model/quantities';
import {
  PATRONI_API_PORT,
  PATRONI_PRIMARY_ROLE,
  PATRONI_REPLICA_ROLE,
  PATRONI_ROLE_LABEL,
  PATRONI_SCOPE_LABEL,
  patroniConfig,
  patroniPolicyRules,
} from './patroni-config.js';
import { type BackupRepository, type BackupRetention, renderPgbackrestConfig, STANZA_NAME } from './pgbackrest-config.js';
import { PodDisruptionBudget } from './pod-disruption-budget.js';
import type { ResourceSpec } from './resources.js';
import { parseImageReference } from '@expense-tracker/model/images';

/**
 * Contract of the Patroni image (production: Percona's operator image for PostgreSQL 15,
 * stand-in: test/images/patroni): `patroni`, `patronictl`, `pgbackrest` and `psql` on PATH,
 * PostgreSQL 15 server binaries in `/usr/pgsql-15/bin`, user `postgres` UID/GID 26.
 */
export const PATRONI_IMAGE_CONTRACT = {
  binDir: '/usr/pgsql-15/bin',
  uid: 26,
  gid: 26,
} as const;

/** Secret with Patroni's own passwords (created by `npm run create-secrets`). */
export const PATRONI_SECRET = {
  name: 'postgres-patroni',
  keys: { superuserPassword: 'superuser-password', replicationPassword: 'replication-password' },
} as const;

/** Secret with the S3 HMAC credentials of the backup repository. */
export const BACKUP_S3_SECRET = {
  name: 'postgres-backup-s3',
  keys: { accessKey: 'access-key', secretKey: 'secret-key' },
} as const;

/** Where the data volume is mounted; PGDATA is a subdirectory so `lost+found` never confuses initdb. */
const DATA_MOUNT = '/var/lib/postgresql/data';
const PGDATA = `${DATA_MOUNT}/pgdata`;
const SOCKET_DIR = '/var/run/postgresql';
const PATRONI_CONFIG_DIR = '/etc/patroni';
const PGBACKREST_CONFIG_DIR = '/etc/pgbackrest';
const TMP = '/tmp';

/** Scheduled pgBackRest backups (CronJobs) and the repository they write to. */
export interface PostgresBackupProps {
  /** Where backups and archived WAL go. */
  readonly repository: BackupRepository;
  /** How many full and differential backups are kept. */
  readonly retention: BackupRetention;
  /**
   * Cron schedules (UTC, `timeZone: Etc/UTC`) of the full and differential backups.
   * @default { full: '15 1 * * 0', diff: '15 1 * * 1-6' } (full on Sunday, differential the other nights)
   */
  readonly schedule?: { readonly full: string; readonly diff: string };
  /**
   * pgBackRest stanza.
   * @default 'expense'
   */
  readonly stanza?: string;
  /**
   * Image of the backup CronJobs: `kubectl`, which runs pgBackRest inside the current primary
   * (`kubectl exec service/postgres`), where the data files are.
   * @default PINNED_IMAGES.kubectl (model/images.ts)
   */
  readonly kubectlImage?: string;
  /**
   * Secret with the repository's S3 HMAC keys (`access-key`, `secret-key`); S3 repositories only.
   * @default 'postgres-backup-s3'
   */
  readonly s3CredentialsSecretName?: string;
}

/** Props for `PostgresHa`. */
export interface PostgresHaProps {
  /**
   * Image with PostgreSQL 15, Patroni 4 and pgBackRest (see `PATRONI_IMAGE_CONTRACT`).
   * @default PINNED_IMAGES.patroni (model/images.ts)
   */
  readonly image?: string;
  /**
   * Members (pods) of the cluster: one primary, the rest streaming replicas, one of them synchronous.
   * @default 3
   */
  readonly members?: number;
  /**
   * Size of each member's `data` volumeClaimTemplate (bytes, binary suffix).
   * @default '1Gi'
   */
  readonly storage?: string;
  /**
   * StorageClass of the `data` claims.
   * @default 'standard'
   */
  readonly storageClassName?: string;
  /**
   * Requests and limits of the postgres container.
   * @default 250m/512Mi requested, 1/1Gi limit
   */
  readonly resources?: ResourceSpec;
  /**
   * Pod anti-affinity across nodes (`kubernetes.io/hostname`): `required` never places two
   * members on one node (production); `preferred` spreads them when it can (small test clusters).
   * @default 'required'
   */
  readonly antiAffinity?: 'required' | 'preferred';
  /**
   * Synchronous replication (Patroni `synchronous_mode`): an acknowledged commit is on two members.
   * @default true
   */
  readonly synchronousMode?: boolean;
  /**
   * Secret holding the application's `username`, `password` and `database`; the role and
   * database are created on first bootstrap.
   * @default 'postgres-credentials'
   */
  readonly credentialsSecretName?: string;
  /**
   * Secret holding Patroni's `superuser-password` and `replication-password`.
   * @default 'postgres-patroni'
   */
  readonly patroniSecretName?: string;
  /**
   * Continuous WAL archiving and scheduled backups with pgBackRest.
   * @default - no archiving, no backups
   */
  readonly backup?: PostgresBackupProps;
  /**
   * `app.kubernetes.io/instance` label value.
   * @default 'expense-tracker'
   */
  readonly instance?: string;
}

const CRON = /^(\S+\s+){4}\S+$/;

/**
 * Highly available PostgreSQL 15: a Patroni cluster with the Kubernetes API as its DCS
 * (no etcd), as one StatefulSet `postgres` with a `data` volumeClaimTemplate per member.
 *
 * - Patroni elects the primary through the leader ConfigMap `postgres-leader` and labels each
 *   pod `role=primary|replica`. Service `postgres` (read-write) selects `role=primary`,
 *   `postgres-replicas` (read-only) `role=replica`; `postgres-headless` is the StatefulSet's
 *   governing Service.
 * - `synchronous_mode`: one replica is synchronous, so a failover after an acknowledged commit
 *   never loses it (https://patroni.readthedocs.io/en/latest/replication_modes.html).
 * - RBAC: ServiceAccount `postgres` with Role `postgres-patroni` (ConfigMaps and Pods in the
 *   namespace only: `patroniPolicyRules`).
 * - PodDisruptionBudget `postgres` (`maxUnavailable: 1`), pod anti-affinity across nodes,
 *   the restricted Pod Security Standard (non-root, read-only root filesystem, no
 *   capabilities, RuntimeDefault seccomp).
 * - Probes: readiness is Patroni's `GET /readiness` (a running primary, or a replica that
 *   streams), liveness `GET /liveness` (Patroni's HA loop is not stuck); a replica catching up
 *   is not restarted.
 * - With `backup`: `archive_command` pushes WAL to the pgBackRest repository, new replicas
 *   restore from it, and CronJobs `postgres-backup-full` / `postgres-backup-diff` run
 *   `pgbackrest backup` in the current primary. The stanza is created by the bootstrap script.
 *
 * @throws Error naming the prop for fewer than 2 or more than 9 members, an unpinned image,
 *   a malformed storage size, stanza or cron schedule.
 */
export class PostgresHa extends Construct {
  static readonly NAME = 'postgres';
  static readonly REPLICAS_NAME = 'postgres-replicas';
  static readonly HEADLESS_NAME = 'postgres-headless';
  static readonly PORT = 5432;
  /** Patroni scope: the DCS ConfigMaps are `postgres-leader`, `postgres-config`, `postgres-sync`. */
  static readonly SCOPE = 'postgres';
  readonly identity: ComponentIdentity;
  /** Labels of every member pod (without the role). */
  readonly selector: Record<string, string>;
  readonly members: number;
  readonly statefulSet: k8s.KubeStatefulSet;
  readonly service: k8s.KubeService;
  readonly replicasService: k8s.KubeService;
  /** Selector of the backup CronJob pods (undefined without backups). */
  readonly backupSelector?: Record<string, string>;
  /** pgBackRest stanza (undefined without backups). */
  readonly stanza?: string;

  constructor(scope: Construct, id: string, props: PostgresHaProps = {}) {
    super(scope, id);
    const image = props.image ?? formatImageReference(PINNED_IMAGES.patroni);
    if (!/^[^\s:@]+(:[0-9]+)?\/?[^\s:@]*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?$/.test(image) || /:latest(@|$)/.test(image)) {
      throw new Error(`PostgresHa image must be a pinned reference "repository:tag", got "${image}"`);
    }
    const members = props.members ?? 3;
    if (!Number.isInteger(members) || members < 2 || members > 9) throw new Error(`PostgresHa members must be an integer from 2 to 9, got ${members}`);
    const storage = props.storage ?? '1Gi';
    if (!STORAGE_QUANTITY.test(storage)) throw new Error(`PostgresHa storage must look like "1Gi", got "${storage}"`);
    const backup = props.backup;
    const stanza = backup ? (backup.stanza ?? 'expense') : undefined;
    if (stanza !== undefined && !STANZA_NAME.test(stanza)) throw new Error(`PostgresHa backup.stanza must match ${STANZA_NAME}, got "${stanza}"`);
    const schedule = backup?.schedule ?? { full: '15 1 * * 0', diff: '15 1 * * 1-6' };
    for (const [k, v] of Object.entries(schedule)) if (!CRON.test(v)) throw new Error(`PostgresHa backup.schedule.${k} must be a five-field cron expression, got "${v}"`);

    this.members = members;
    this.stanza = stanza;
    this.identity = { name: 'postgresql', instance: props.instance ?? 'expense-tracker', component: 'database', version: parseImageReference(image).tag ?? '' };
    this.selector = selectorLabels(this.identity);
    const labels = recommendedLabels(this.identity);
    const podLabels = { ...labels, [PATRONI_SCOPE_LABEL]: PostgresHa.SCOPE };
    const credentials = props.credentialsSecretName ?? SECRETS.postgres.name;
    const patroniSecret = props.patroniSecretName ?? PATRONI_SECRET.name;
    const uid = PATRONI_IMAGE_CONTRACT.uid;

    // RBAC: what Patroni's Kubernetes DCS needs, in this namespace only.
    new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: { name: PostgresHa.NAME, labels }, automountServiceAccountToken: true });
    new k8s.KubeRole(this, 'Role', { metadata: { name: 'postgres-patroni', labels }, rules: patroniPolicyRules().map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })) });
    new k8s.KubeRoleBinding(this, 'RoleBinding', {
      metadata: { name: 'postgres-patroni', labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'postgres-patroni' },
      subjects: [{ kind: 'ServiceAccount', name: PostgresHa.NAME }],
    });

    const config = patroniConfig({
      scope: PostgresHa.SCOPE,
      // Patroni takes the namespace from PATRONI_KUBERNETES_NAMESPACE (Downward API); this is its fallback.
      namespace: 'default',
      podLabels: this.selector,
      dataDir: PGDATA,
      binDir: PATRONI_IMAGE_CONTRACT.binDir,
      socketDir: SOCKET_DIR,
      pgpassFile: `${TMP}/pgpass`,
      synchronousMode: props.synchronousMode ?? true,
      pgbackrest: stanza ? { stanza } : undefined,
      postBootstrap: `${PATRONI_CONFIG_DIR}/post-bootstrap.sh`,
    });
    new k8s.KubeConfigMap(this, 'PatroniConfig', {
      metadata: { name: 'postgres-patroni', labels },
      data: { 'patroni.yaml': stringify(config), 'post-bootstrap.sh': postBootstrapScript(stanza) },
    });
    if (backup && stanza) {
      new k8s.KubeConfigMap(this, 'PgbackrestConfig', {
        metadata: { name: 'postgres-pgbackrest', labels },
        data: {
          'pgbackrest.conf': renderPgbackrestConfig({
            stanza,
            repository: backup.repository,
            retention: backup.retention,
            pgPath: PGDATA,
            pgPort: PostgresHa.PORT,
            pgSocketPath: SOCKET_DIR,
            workPath: `${TMP}/pgbackrest`,
          }),
        },
      });
    }

    const ports = [
      { name: 'postgresql', port: PostgresHa.PORT, targetPort: k8s.IntOrString.fromString('postgresql') },
    ];
    new k8s.KubeService(this, 'HeadlessService', {
      metadata: { name: PostgresHa.HEADLESS_NAME, labels },
      spec: {
        clusterIp: 'None',
        // Members must resolve each other before they are ready (a replica is not ready until it streams).
        publishNotReadyAddresses: true,
        selector: this.selector,
        ports: [...ports, { name: 'patroni', port: PATRONI_API_PORT, targetPort: k8s.IntOrString.fromString('patroni') }],
      },
    });
    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name: PostgresHa.NAME, labels },
      spec: { selector: { ...this.selector, [PATRONI_ROLE_LABEL]: PATRONI_PRIMARY_ROLE }, ports },
    });
    this.replicasService = new k8s.KubeService(this, 'ReplicasService', {
      metadata: { name: PostgresHa.REPLICAS_NAME, labels },
      spec: { selector: { ...this.selector, [PATRONI_ROLE_LABEL]: PATRONI_REPLICA_ROLE }, ports },
    });

    const fromField = (fieldPath: string) => ({ valueFrom: { fieldRef: { fieldPath } } });
    const fromSecret = (name: string, key: string) => ({ valueFrom: { secretKeyRef: { name, key } } });
    const env: k8s.EnvVar[] = [
      { name: 'PATRONI_NAME', ...fromField('metadata.name') },
      { name: 'PATRONI_KUBERNETES_NAMESPACE', ...fromField('metadata.namespace') },
      { name: 'PATRONI_KUBERNETES_POD_IP', ...fromField('status.podIP') },
      { name: 'PATRONI_POSTGRESQL_LISTEN', value: `0.0.0.0:${PostgresHa.PORT}` },
      { name: 'PATRONI_POSTGRESQL_CONNECT_ADDRESS', value: `$(PATRONI_KUBERNETES_POD_IP):${PostgresHa.PORT}` },
      { name: 'PATRONI_RESTAPI_LISTEN', value: `0.0.0.0:${PATRONI_API_PORT}` },
      { name: 'PATRONI_RESTAPI_CONNECT_ADDRESS', value: `$(PATRONI_KUBERNETES_POD_IP):${PATRONI_API_PORT}` },
      { name: 'PATRONI_SUPERUSER_PASSWORD', ...fromSecret(patroniSecret, PATRONI_SECRET.keys.superuserPassword) },
      { name: 'PATRONI_REPLICATION_PASSWORD', ...fromSecret(patroniSecret, PATRONI_SECRET.keys.replicationPassword) },
      { name: 'APP_DB_USER', ...fromSecret(credentials, SECRETS.postgres.keys.username) },
      { name: 'APP_DB_PASSWORD', ...fromSecret(credentials, SECRETS.postgres.keys.password) },
      { name: 'APP_DB_NAME', ...fromSecret(credentials, SECRETS.postgres.keys.database) },
      { name: 'PGDATA', value: PGDATA },
      { name: 'HOME', value: TMP },
    ];
    const volumeMounts: k8s.VolumeMount[] = [
      { name: 'data', mountPath: DATA_MOUNT },
      { name: 'run', mountPath: SOCKET_DIR },
      { name: 'tmp', mountPath: TMP },
      { name: 'patroni-config', mountPath: PATRONI_CONFIG_DIR, readOnly: true },
    ];
    const volumes: k8s.Volume[] = [
      { name: 'run', emptyDir: { sizeLimit: k8s.Quantity.fromString('8Mi') } },
      { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('256Mi') } },
      {
        name: 'patroni-config',
        projected: {
          defaultMode: 0o555,
          sources: [
            { configMap: { name: 'postgres-patroni' } },
            // Present only while `npm run db -- restore` runs: bootstrap from the backup repository.
            { configMap: { name: 'postgres-restore', optional: true } },
          ],
        },
      },
    ];
    if (backup && stanza) {
      env.push({ name: 'PGBACKREST_CONFIG', value: `${PGBACKREST_CONFIG_DIR}/pgbackrest.conf` });
      if (backup.repository.type === 's3') {
        const s3Secret = backup.s3CredentialsSecretName ?? BACKUP_S3_SECRET.name;
        env.push(
          { name: 'PGBACKREST_REPO1_S3_KEY', ...fromSecret(s3Secret, BACKUP_S3_SECRET.keys.accessKey) },
          { name: 'PGBACKREST_REPO1_S3_KEY_SECRET', ...fromSecret(s3Secret, BACKUP_S3_SECRET.keys.secretKey) },
        );
      }
      volumeMounts.push({ name: 'pgbackrest-config', mountPath: PGBACKREST_CONFIG_DIR, readOnly: true });
      volumes.push({ name: 'pgbackrest-config', configMap: { name: 'postgres-pgbackrest' } });
    }

    const term = { labelSelector: { matchLabels: this.selector }, topologyKey: 'kubernetes.io/hostname' };
    const podAntiAffinity =
      (props.antiAffinity ?? 'required') === 'required'
        ? { requiredDuringSchedulingIgnoredDuringExecution: [term] }
        : { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] };
    const resources = resourceRequirements(props.resources ?? { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } });

    this.statefulSet = new k8s.KubeStatefulSet(this, 'StatefulSet', {
      metadata: { name: PostgresHa.NAME, labels },
      spec: {
        replicas: members,
        serviceName: PostgresHa.HEADLESS_NAME,
        // Patroni orders the members itself: start them together.
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: this.selector },
        updateStrategy: { type: 'RollingUpdate' },
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
        template: {
          // Patroni sets `role` on its own Pod; the Services select on it.
          metadata: { labels: podLabels, annotations: { [RUNTIME_LABELS_ANNOTATION]: PATRONI_ROLE_LABEL } },
          spec: {
            serviceAccountName: PostgresHa.NAME,
            automountServiceAccountToken: true,
            // Patroni demotes or hands over and stops PostgreSQL cleanly on SIGTERM.
            terminationGracePeriodSeconds: 60,
            enableServiceLinks: false,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: uid,
              runAsGroup: PATRONI_IMAGE_CONTRACT.gid,
              fsGroup: PATRONI_IMAGE_CONTRACT.gid,
              fsGroupChangePolicy: 'OnRootMismatch',
              seccompProfile: { type: 'RuntimeDefault' },
            },
            affinity: { podAntiAffinity },
            containers: [
              {
                name: 'postgres',
                image,
                imagePullPolicy: 'IfNotPresent',
                command: ['patroni', PATRONI_CONFIG_DIR],
                env,
                ports: [
                  { name: 'postgresql', containerPort: PostgresHa.PORT, protocol: 'TCP' },
                  { name: 'patroni', containerPort: PATRONI_API_PORT, protocol: 'TCP' },
                ],
                resources,
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: uid,
                  runAsGroup: PATRONI_IMAGE_CONTRACT.gid,
                  privileged: false,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                readinessProbe: { httpGet: { path: '/readiness', port: k8s.IntOrString.fromString('patroni') }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
                livenessProbe: { httpGet: { path: '/liveness', port: k8s.IntOrString.fromString('patroni') }, initialDelaySeconds: 30, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
                volumeMounts,
              },
            ],
            volumes,
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data', labels },
            spec: {
              accessModes: ['ReadWriteOnce'],
              storageClassName: props.storageClassName ?? 'standard',
              resources: { requests: { storage: k8s.Quantity.fromString(storage) } },
            },
          },
        ],
      },
    });

    new PodDisruptionBudget(this, 'Budget', { name: PostgresHa.NAME, selector: this.selector, labels });

    if (backup && stanza) {
      this.backupSelector = { ...selectorLabels({ ...this.identity, component: 'database-backup' }) };
      this.addBackupJobs(backup, stanza, schedule, members, labels);
    }
  }

  private addBackupJobs(backup: PostgresBackupProps, stanza: string, schedule: { full: string; diff: string }, members: number, labels: Record<string, string>): void {
    const name = 'postgres-backup';
    const jobLabels = { ...labels, ...this.backupSelector };
    new k8s.KubeServiceAccount(this, 'BackupServiceAccount', { metadata: { name, labels: jobLabels }, automountServiceAccountToken: true });
    // `kubectl exec service/postgres` reads the Service, lists its pods, and execs into the chosen member only.
    new k8s.KubeRole(this, 'BackupRole', {
      metadata: { name, labels: jobLabels },
      rules: [
        { apiGroups: [''], resources: ['services'], resourceNames: [PostgresHa.NAME], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
        { apiGroups: [''], resources: ['pods/exec'], resourceNames: Array.from({ length: members }, (_, i) => `${PostgresHa.NAME}-${i}`), verbs: ['create'] },
      ],
    });
    new k8s.KubeRoleBinding(this, 'BackupRoleBinding', {
      metadata: { name, labels: jobLabels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name }],
    });
    const image = backup.kubectlImage ?? formatImageReference(PINNED_IMAGES.kubectl);
    for (const type of ['full', 'diff'] as const) {
      new k8s.KubeCronJob(this, `Backup-${type}`, {
        metadata: { name: `${name}-${type}`, labels: jobLabels },
        spec: {
          schedule: schedule[type],
          timeZone: 'Etc/UTC',
          // A running backup is never doubled; a missed run is started up to an hour late.
          concurrencyPolicy: 'Forbid',
          startingDeadlineSeconds: 3600,
          successfulJobsHistoryLimit: 3,
          failedJobsHistoryLimit: 3,
          jobTemplate: {
            metadata: { labels: jobLabels },
            spec: {
              backoffLimit: 2,
              activeDeadlineSeconds: 6 * 3600,
              template: {
                metadata: { labels: jobLabels },
                spec: {
                  serviceAccountName: name,
                  restartPolicy: 'Never',
                  enableServiceLinks: false,
                  securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
                  containers: [
                    {
                      name: 'backup',
                      image,
                      imagePullPolicy: 'IfNotPresent',
                      command: ['kubectl', 'exec', `service/${PostgresHa.NAME}`, '--container', 'postgres', '--', 'pgbackrest', `--stanza=${stanza}`, `--type=${type}`, 'backup'],
                      resources: resourceRequirements({ requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '128Mi' } }),
                      securityContext: {
                        runAsNonRoot: true,
                        privileged: false,
                        allowPrivilegeEscalation: false,
                        readOnlyRootFilesystem: true,
                        capabilities: { drop: ['ALL'] },
                      },
                    },
                  ],
                },
              },
            },
          },
        },
      });
    }
  }
}

/** `ResourceRequirements` of a core/v1 container from a `ResourceSpec` (quantities as written). */
function resourceRequirements(spec: ResourceSpec): k8s.ResourceRequirements {
  const q = (v: string) => k8s.Quantity.fromString(v);
  return {
    requests: { cpu: q(spec.requests.cpu), memory: q(spec.requests.memory) },
    limits: { cpu: q(spec.limits.cpu), memory: q(spec.limits.memory) },
  };
}

/**
 * Runs once on the new primary after initdb (Patroni `post_bootstrap`, libpq URL as `$1`):
 * creates the application role and database from the credentials Secret (idempotent, so a
 * restore bootstrap can run it again) and the pgBackRest stanza.
 */
function postBootstrapScript(stanza: string | undefined): string {
  return [
    '#!/bin/sh',
    'set -eu',
    'psql -v ON_ERROR_STOP=1 --no-psqlrc "$1" --set=user="$APP_DB_USER" --set=password="$APP_DB_PASSWORD" --set=db="$APP_DB_NAME" <<\'SQL\'',
    "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'user', :'password') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \\gexec",
    "SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec",
    'SQL',
    ...(stanza ? [`pgbackrest --stanza=${stanza} stanza-create`] : []),
    '',
  ].join('\n');
}
