import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import { SECRETS } from '@expense-tracker/model/app-contract';
import { POSTGRES, POSTGRES_HA } from '@expense-tracker/model/components';
import {
  formatIssues,
  postgresBackupSchema,
  postgresHaSchema,
  readWriteOnceRepositoryIssue,
  type PostgresBackupSettings,
  type ResourceSettings,
} from '@expense-tracker/model/environment-schema';
import { base } from '@expense-tracker/model/environments/base';
import { formatImageReference, unpinnedReason } from '@expense-tracker/model/images';
import { RUNTIME_LABELS_ANNOTATION, selectorLabels } from '@expense-tracker/model/naming';
import { STORAGE_QUANTITY } from '@expense-tracker/model/quantities';
import {
  PATRONI_PRIMARY_ROLE,
  PATRONI_REPLICA_ROLE,
  PATRONI_ROLE_LABEL,
  PATRONI_SCOPE_LABEL,
  patroniConfig,
  patroniPolicyRules,
  type PatroniTiming,
} from './patroni-config.js';
import { allowEgress } from './network-policy.js';
import { scannerExceptionAnnotations } from './scanner-exceptions.js';
import { renderPgbackrestConfig } from './pgbackrest-config.js';
import { secretFilePath } from './secrets.js';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, RUNTIME_DEFAULT_SECCOMP } from './pod-security.js';
import { Workload, type WorkloadImage } from './workload.js';

/**
 * Contract of the Patroni image (production: Percona's operator image for PostgreSQL 15,
 * stand-in: test/images/patroni): `patroni`, `patronictl`, `pgbackrest`, `psql`, `getent` on
 * PATH, PostgreSQL 15 server binaries in `/usr/pgsql-15/bin` (the PGDG RPM layout), and
 * nss_wrapper at `/usr/lib64/libnss_wrapper.so`, so the members run as any UID.
 */
export const PATRONI_IMAGE_CONTRACT = {
  binDir: '/usr/pgsql-15/bin',
  nssWrapperLibrary: '/usr/lib64/libnss_wrapper.so',
} as const;

/**
 * UID and GID the members run as: above 10000, so never a host account. The image's own user
 * (`postgres`, 26) is not used; nss_wrapper names this UID `postgres` (initdb and postgres refuse
 * a UID without a passwd entry).
 */
export const PATRONI_UID = 10026;

/** Where the data volume is mounted, and PGDATA, a subdirectory of it: as the single-instance Postgres. */
const DATA_MOUNT = POSTGRES.dataMountPath;
const PGDATA = POSTGRES.pgdata;
/** PostgreSQL's Unix socket directory in a member (an emptyDir); `psql -h` it to connect as the superuser. */
export const PATRONI_SOCKET_DIR = '/var/run/postgresql';
/** Patroni's configuration directory: every `*.yaml` in it is merged, in name order. */
const PATRONI_CONFIG_DIR = '/etc/patroni';
const PGBACKREST_CONFIG_DIR = '/etc/pgbackrest';
const S3_CA_DIR = '/etc/pgbackrest-ca';
/** Where a `pvc` repository is mounted in every member (pgBackRest's default `repo1-path`). */
export const PVC_REPOSITORY_PATH = '/var/lib/pgbackrest';
/** HOME, `.pgpass`, nss_wrapper's files, pgBackRest's spool, locks and logs. */
const TMP = '/tmp';

/**
 * `run.sh <command> [args]`: runs a command in the member's environment. Patroni runs under it;
 * so must anything run with `kubectl exec` that needs a name for the UID or a secret
 * (`pgbackrest`, `psql`; `patronictl` needs neither).
 */
export const PATRONI_RUN = `${PATRONI_CONFIG_DIR}/run.sh`;
/** `patronictl` configuration inside a member. */
export const PATRONI_CONFIG_FILE = `${PATRONI_CONFIG_DIR}/patroni.yaml`;

/** Continuous WAL archiving and scheduled pgBackRest backups (CronJobs). */
export interface PostgresHaBackupProps {
  /**
   * Where the repository is: `s3` (an S3-compatible object store, `s3`) or `pvc` (the
   * PersistentVolumeClaim `postgres-backup-repository`, mounted by every member; pgBackRest's
   * `posix` type).
   * @default 's3'
   */
  readonly repository?: PostgresBackupSettings['repository'];
  /**
   * The S3 repository: endpoint, bucket, region, path, URI style, CA, address blocks (model: `postgres.backup.s3`).
   * @default - none; required when `repository` is `s3`
   */
  readonly s3?: PostgresBackupSettings['s3'];
  /**
   * The claim of a `pvc` repository: size, StorageClass, access mode. `ReadWriteOnce` works only
   * while every member runs on one node (`antiAffinity: preferred` on a one-node cluster).
   * @default { storage: '10Gi', storageClassName: 'standard', accessMode: 'ReadWriteOnce' } (model/environments/base.ts)
   */
  readonly pvc?: Partial<PostgresBackupSettings['pvc']>;
  /**
   * How many full and differential backups are kept.
   * @default { full: 4, diff: 6 } (model/environments/base.ts)
   */
  readonly retention?: PostgresBackupSettings['retention'];
  /**
   * Cron schedules (UTC) of the full and differential backups.
   * @default { full: '15 1 * * 0', diff: '15 1 * * 1-6' } (full on Sunday, differential the other nights)
   */
  readonly schedule?: PostgresBackupSettings['schedule'];
  /**
   * pgBackRest stanza.
   * @default 'expense'
   */
  readonly stanza?: string;
  /**
   * Image of the backup CronJobs (`kubectl`, which runs pgBackRest in the current primary).
   * @default `registry.k8s.io/kubectl` of the base environment (model/images.ts PINNED_IMAGES.kubectl)
   */
  readonly kubectlImage?: WorkloadImage;
}

/** Props for `PostgresHa`. */
export interface PostgresHaProps {
  /**
   * Image with PostgreSQL 15, Patroni 4 and pgBackRest (`PATRONI_IMAGE_CONTRACT`).
   * @default the base environment's `postgres.ha.image` (model/images.ts PINNED_IMAGES.patroni, by tag)
   */
  readonly image?: WorkloadImage;
  /**
   * Members (pods, 2–9): one primary, the others streaming replicas, one of them synchronous.
   * @default 3
   */
  readonly members?: number;
  /**
   * Size of each member's `data` volumeClaimTemplate (bytes, binary suffix).
   * @default '1Gi' (model/environments/base.ts)
   */
  readonly storage?: string;
  /**
   * StorageClass of the `data` claims.
   * @default 'standard' (model/environments/base.ts)
   */
  readonly storageClassName?: string;
  /**
   * Requests and limits of each member's container.
   * @default 100m/128Mi requested, 500m/512Mi limit (model/environments/base.ts)
   */
  readonly resources?: ResourceSettings;
  /**
   * Pod anti-affinity across nodes (`kubernetes.io/hostname`): `required` never places two
   * members on one node (production); `preferred` spreads them when it can.
   * @default 'preferred' (a one-node cluster still runs every member)
   */
  readonly antiAffinity?: 'required' | 'preferred';
  /**
   * Synchronous replication (Patroni `synchronous_mode`): an acknowledged commit is on two members.
   * @default true
   */
  readonly synchronousMode?: boolean;
  /**
   * Patroni's leader lock TTL, HA loop period and retry timeout, in seconds.
   * @default { ttlSeconds: 30, loopWaitSeconds: 10, retryTimeoutSeconds: 10 } (Patroni's defaults)
   */
  readonly timing?: PatroniTiming;
  /**
   * Where the members and the backup jobs reach the Kubernetes API after Service translation
   * (the `kubernetes` Service's endpoints): address blocks and port, for their egress NetworkPolicies.
   * @default minikube's `{ cidrs: ['192.168.49.2/32'], port: 8443 }` (model/environments/base.ts)
   */
  readonly apiServer?: { readonly cidrs: readonly string[]; readonly port: number };
  /**
   * Secret holding the application's `username`, `password` and `database`; the role and
   * database are created on first bootstrap.
   * @default 'postgres-credentials'
   */
  readonly credentialsSecretName?: string;
  /**
   * Continuous WAL archiving and scheduled backups with pgBackRest.
   * @default - no archiving, no backups
   */
  readonly backup?: PostgresHaBackupProps;
  /**
   * `app.kubernetes.io/instance` label value.
   * @default 'expense-tracker'
   */
  readonly instance?: string;
}

/** pgBackRest backup types, each with its own CronJob and schedule. */
const BACKUP_TYPES = ['full', 'diff'] as const;

/**
 * Highly available PostgreSQL 15: a Patroni cluster with the Kubernetes API as its DCS (no
 * etcd), as one StatefulSet `postgres` with a `data` volumeClaimTemplate per member, on the
 * workload base (labels, restricted Pod Security Standard, anti-affinity, PodDisruptionBudget).
 *
 * - Patroni elects the primary through the leader ConfigMap `postgres-leader` and labels each
 *   pod `role=primary|replica`. Service `postgres` (read-write) selects `role=primary`,
 *   `postgres-replicas` (read-only) `role=replica`; `postgres-headless` is the StatefulSet's
 *   governing Service and resolves members before they are ready.
 * - `synchronous_mode`: one replica is synchronous, so a failover after an acknowledged commit
 *   never loses it (https://patroni.readthedocs.io/en/latest/replication_modes.html).
 * - RBAC: ServiceAccount `postgres` with Role `postgres-patroni` (ConfigMaps and Pods in the
 *   namespace only: `patroniPolicyRules`).
 * - Secrets are files (`/run/secrets/<secret>/<key>`), never environment entries of the pod
 *   spec: `run.sh` reads them into the environment Patroni and pgBackRest expect, for the
 *   process it starts only.
 * - Probes: readiness is Patroni's `GET /readiness` (a running primary, or a replica that
 *   streams), liveness `GET /liveness` (Patroni's HA loop is not stuck); a replica catching up
 *   is not restarted.
 * - With `backup`: `archive_command` pushes WAL to the pgBackRest repository, new replicas
 *   restore from it, and CronJobs `postgres-backup-full` / `postgres-backup-diff` run
 *   `pgbackrest backup` in the current primary. The stanza is created by the bootstrap script.
 *
 * @throws Error naming the prop for a member count outside 2–9, an unpinned image, a malformed
 *   storage size, timing, stanza, repository or cron schedule.
 */
export class PostgresHa extends Workload {
  static readonly NAME = POSTGRES.name;
  static readonly REPLICAS_NAME = POSTGRES_HA.replicasServiceName;
  static readonly HEADLESS_NAME = POSTGRES.headlessServiceName;
  static readonly PORT = POSTGRES.port;
  /** Patroni scope: the DCS ConfigMaps are `postgres-leader`, `postgres-config`, `postgres-sync`. */
  static readonly SCOPE = POSTGRES_HA.scope;
  /** Name of the volumeClaimTemplate; claims are `<template>-postgres-<ordinal>`. */
  static readonly DATA_CLAIM_TEMPLATE = 'data';
  /** `metadata.name`s of the backup CronJobs (full, then differential), when backups are on. */
  static readonly BACKUP_CRONJOB_NAMES: readonly string[] = BACKUP_TYPES.map((type) => `${POSTGRES_HA.backupName}-${type}`);
  /** Service `postgres`: the primary only. */
  readonly service: kplus.Service;
  /** Service `postgres-replicas`: the streaming replicas. */
  readonly replicasService: kplus.Service;
  /** Host name clients connect to for reads and writes (the primary's Service). */
  readonly host = POSTGRES.name;
  /** Host name of the read-only replicas. */
  readonly replicasHost = POSTGRES_HA.replicasServiceName;
  /** TCP port clients connect to. */
  readonly port = POSTGRES.port;
  readonly members: number;
  /** pgBackRest stanza (undefined without backups). */
  readonly stanza?: string;
  /** Labels of the backup CronJobs' pods (undefined without backups). */
  readonly backupSelector?: Record<string, string>;
  private readonly apiServerPeer: { readonly name: string; readonly cidrs: readonly string[] };
  private readonly apiServerPort: number;

  constructor(scope: Construct, id: string, props: PostgresHaProps = {}) {
    const ha = base.postgres.ha;
    const settings = {
      image: { ...ha.image, ...props.image },
      members: props.members ?? ha.members,
      antiAffinity: props.antiAffinity ?? ha.antiAffinity,
      synchronousMode: props.synchronousMode ?? ha.synchronousMode,
      timing: props.timing ?? ha.timing,
      apiServer: props.apiServer ?? ha.apiServer,
    };
    const checked = postgresHaSchema.safeParse(settings);
    if (!checked.success) throw new Error(`PostgresHa: ${formatIssues(checked.error).join('; ')}`);
    const storage = props.storage ?? base.postgres.storage;
    if (!STORAGE_QUANTITY.test(storage)) throw new Error(`PostgresHa: storage: must look like "1Gi", got "${storage}"`);
    const backup = props.backup ? checkedBackup(props.backup, settings) : undefined;
    const s3 = backup?.repository === 's3' ? backup.s3 : undefined;

    super(scope, id, {
      kind: 'StatefulSet',
      name: POSTGRES.name,
      identity: POSTGRES_HA.identity,
      peerName: 'postgres',
      instance: props.instance,
      image: settings.image,
      resources: props.resources ?? base.postgres.resources,
      podIdentity: { uid: PATRONI_UID, gid: PATRONI_UID, fsGroup: PATRONI_UID },
      replicas: settings.members,
      antiAffinity: settings.antiAffinity,
      // Patroni demotes or hands over and stops PostgreSQL cleanly on SIGTERM.
      terminationGracePeriodSeconds: 60,
      // Patroni sets `role` on its own Pod; the Services select on it.
      podAnnotations: { [RUNTIME_LABELS_ANNOTATION]: PATRONI_ROLE_LABEL },
      serviceAccountName: POSTGRES_HA.serviceAccountName,
      statefulSet: {
        serviceName: POSTGRES.headlessServiceName,
        // Patroni orders the members itself: start them together.
        podManagementPolicy: 'Parallel',
        // Members must resolve each other before they are ready (a replica is not ready until it streams).
        publishNotReadyAddresses: true,
        ports: [
          { name: POSTGRES.portName, port: POSTGRES.port },
          { name: POSTGRES_HA.apiPortName, port: POSTGRES_HA.apiPort },
        ],
        volumeClaims: [
          { name: PostgresHa.DATA_CLAIM_TEMPLATE, mountPath: DATA_MOUNT, storage, storageClassName: props.storageClassName ?? base.postgres.storageClassName },
        ],
      },
    });
    this.members = settings.members;
    this.stanza = backup?.stanza;
    // Patroni lists the members by the configured labels plus its scope label.
    this.workload.podMetadata.addLabel(PATRONI_SCOPE_LABEL, PostgresHa.SCOPE);

    // RBAC: what Patroni's Kubernetes DCS needs, in this namespace only.
    new k8s.KubeServiceAccount(this, 'ServiceAccountResource', {
      metadata: { name: POSTGRES_HA.serviceAccountName, labels: this.labels },
      automountServiceAccountToken: false,
    });
    const role = POSTGRES_HA.roleName;
    new k8s.KubeRole(this, 'Role', {
      metadata: { name: role, labels: this.labels },
      rules: patroniPolicyRules().map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })),
    });
    new k8s.KubeRoleBinding(this, 'RoleBinding', {
      metadata: { name: role, labels: this.labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
      subjects: [{ kind: 'ServiceAccount', name: POSTGRES_HA.serviceAccountName }],
    });

    const credentialsSecret = props.credentialsSecretName ?? SECRETS.postgres.name;
    const secrets = [
      { secret: credentialsSecret, keys: Object.values(SECRETS.postgres.keys) },
      { secret: POSTGRES_HA.patroniSecret.name, keys: Object.values(POSTGRES_HA.patroniSecret.keys) },
      ...(s3 ? [{ secret: POSTGRES_HA.backupS3Secret.name, keys: Object.values(POSTGRES_HA.backupS3Secret.keys) }] : []),
    ];
    const config = patroniConfig({
      scope: PostgresHa.SCOPE,
      // Patroni takes the namespace from PATRONI_KUBERNETES_NAMESPACE (Downward API); this is its fallback.
      namespace: 'default',
      podLabels: this.selector,
      dataDir: PGDATA,
      binDir: PATRONI_IMAGE_CONTRACT.binDir,
      socketDir: PATRONI_SOCKET_DIR,
      pgpassFile: `${TMP}/pgpass`,
      synchronousMode: settings.synchronousMode,
      timing: settings.timing,
      pgbackrest: backup ? { stanza: backup.stanza } : undefined,
      postBootstrap: `${PATRONI_CONFIG_DIR}/post-bootstrap.sh`,
    });
    new k8s.KubeConfigMap(this, 'PatroniConfig', {
      metadata: { name: POSTGRES_HA.patroniConfigMapName, labels: this.labels },
      data: {
        'patroni.yaml': stringify(config),
        'post-bootstrap.sh': postBootstrapScript(credentialsSecret, backup?.stanza),
        'run.sh': runScript(s3 !== undefined),
      },
    });
    if (backup) {
      new k8s.KubeConfigMap(this, 'PgbackrestConfig', {
        metadata: { name: POSTGRES_HA.pgbackrestConfigMapName, labels: this.labels },
        data: {
          'pgbackrest.conf': renderPgbackrestConfig({
            stanza: backup.stanza,
            repository: s3
              ? {
                  type: 's3',
                  endpoint: s3.endpoint,
                  port: s3.port,
                  bucket: s3.bucket,
                  region: s3.region,
                  path: s3.path,
                  uriStyle: s3.uriStyle,
                  caFile: s3.caConfigMap ? `${S3_CA_DIR}/ca.crt` : undefined,
                }
              : { type: 'posix', path: PVC_REPOSITORY_PATH },
            retention: backup.retention,
            pgPath: PGDATA,
            pgPort: POSTGRES.port,
            pgSocketPath: PATRONI_SOCKET_DIR,
            workPath: `${TMP}/pgbackrest`,
          }),
        },
      });
    }

    const fromField = (path: kplus.EnvFieldPaths) => kplus.EnvValue.fromFieldRef(path);
    const value = (text: string) => kplus.EnvValue.fromValue(text);
    const envVariables: Record<string, kplus.EnvValue> = {
      PATRONI_NAME: fromField(kplus.EnvFieldPaths.POD_NAME),
      PATRONI_KUBERNETES_NAMESPACE: fromField(kplus.EnvFieldPaths.POD_NAMESPACE),
      PATRONI_KUBERNETES_POD_IP: fromField(kplus.EnvFieldPaths.POD_IP),
      PATRONI_POSTGRESQL_LISTEN: value(`0.0.0.0:${POSTGRES.port}`),
      PATRONI_POSTGRESQL_CONNECT_ADDRESS: value(`$(PATRONI_KUBERNETES_POD_IP):${POSTGRES.port}`),
      PATRONI_RESTAPI_LISTEN: value(`0.0.0.0:${POSTGRES_HA.apiPort}`),
      PATRONI_RESTAPI_CONNECT_ADDRESS: value(`$(PATRONI_KUBERNETES_POD_IP):${POSTGRES_HA.apiPort}`),
      PGDATA: value(PGDATA),
      HOME: value(TMP),
      ...(backup ? { PGBACKREST_CONFIG: value(`${PGBACKREST_CONFIG_DIR}/pgbackrest.conf`) } : {}),
    };
    const configMapVolume = (name: string, configMap: string, optional = false) =>
      kplus.Volume.fromConfigMap(this, `Volume-${name}`, kplus.ConfigMap.fromConfigMapName(this, `ConfigMap-${name}`, configMap), { name, defaultMode: 0o555, optional });
    const volumeMounts: kplus.VolumeMount[] = [
      { path: PATRONI_SOCKET_DIR, volume: this.scratchVolume('run', Size.mebibytes(8)) },
      { path: TMP, volume: this.scratchVolume('tmp', Size.mebibytes(256)) },
      ...secrets.map(({ secret, keys }) => this.secretFiles(secret, keys).mount),
    ];
    if (backup) {
      volumeMounts.push({ path: PGBACKREST_CONFIG_DIR, readOnly: true, volume: configMapVolume('pgbackrest-config', POSTGRES_HA.pgbackrestConfigMapName) });
      if (s3?.caConfigMap) volumeMounts.push({ path: S3_CA_DIR, readOnly: true, volume: configMapVolume('s3-ca', s3.caConfigMap) });
      if (!s3) {
        const claimName = POSTGRES_HA.backupRepositoryClaimName;
        // L1 claim: one volume every member mounts (not a volumeClaimTemplate): the primary archives
        // and backs up into it, new replicas and restores read from it.
        new k8s.KubePersistentVolumeClaim(this, 'BackupRepositoryClaim', {
          metadata: { name: claimName, labels: this.labels },
          spec: {
            accessModes: [backup.pvc.accessMode],
            storageClassName: backup.pvc.storageClassName,
            volumeMode: 'Filesystem',
            resources: { requests: { storage: k8s.Quantity.fromString(backup.pvc.storage) } },
          },
        });
        const claim = kplus.PersistentVolumeClaim.fromClaimName(this, 'BackupRepositoryClaimRef', claimName);
        volumeMounts.push({ path: PVC_REPOSITORY_PATH, volume: kplus.Volume.fromPersistentVolumeClaim(this, 'BackupRepositoryVolume', claim, { name: 'backup-repository' }) });
      }
    }
    const api = (path: string, period: number, failures: number, initialDelay = 0) =>
      kplus.Probe.fromHttpGet(path, {
        port: POSTGRES_HA.apiPort,
        periodSeconds: Duration.seconds(period),
        timeoutSeconds: Duration.seconds(3),
        failureThreshold: failures,
        initialDelaySeconds: Duration.seconds(initialDelay),
      });
    this.addContainer({
      name: 'postgres',
      command: [PATRONI_RUN, 'patroni', PATRONI_CONFIG_DIR],
      ports: [
        { number: POSTGRES.port, name: POSTGRES.portName },
        { number: POSTGRES_HA.apiPort, name: POSTGRES_HA.apiPortName },
      ],
      envVariables,
      volumeMounts,
      readiness: api('/readiness', 5, 3),
      liveness: api('/liveness', 10, 6, 30),
    });
    // Patroni reads one directory: its configuration plus, only while `npm run db -- restore`
    // runs, the restore bootstrap. cdk8s-plus-27 has no API for projected volumes.
    ApiObject.of(this.workload).addJsonPatch(
      JsonPatch.add('/spec/template/spec/volumes/-', {
        name: 'patroni-config',
        projected: {
          defaultMode: 0o555,
          sources: [{ configMap: { name: POSTGRES_HA.patroniConfigMapName } }, { configMap: { name: POSTGRES_HA.restoreConfigMapName, optional: true } }],
        },
      }),
      JsonPatch.add('/spec/template/spec/containers/0/volumeMounts/-', { name: 'patroni-config', mountPath: PATRONI_CONFIG_DIR, readOnly: true }),
    );

    this.service = this.exposeViaService('Service', {
      name: POSTGRES.name,
      ports: [{ name: POSTGRES.portName, port: POSTGRES.port }],
      podLabels: { [PATRONI_ROLE_LABEL]: PATRONI_PRIMARY_ROLE },
    });
    this.replicasService = this.exposeViaService('ReplicasService', {
      name: POSTGRES_HA.replicasServiceName,
      ports: [{ name: POSTGRES.portName, port: POSTGRES.port }],
      podLabels: { [PATRONI_ROLE_LABEL]: PATRONI_REPLICA_ROLE },
    });
    // Accepted scanner findings (docs/security.md): Patroni needs its API token, and the role
    // Services select a label only Patroni sets, at runtime.
    this.acceptScannerFindings({
      checkov: { CKV_K8S_38: `Patroni keeps its leader lock and cluster state in the Kubernetes API (its DCS): the token of ServiceAccount ${POSTGRES_HA.serviceAccountName}, bound to a Role on this cluster's objects only` },
    });
    const rolesAtRuntime = scannerExceptionAnnotations({
      kubeScore: { 'service-targets-pod': `selects ${PATRONI_ROLE_LABEL}, the label Patroni sets on the member it promotes or follows, at runtime: no pod template carries it` },
    });
    for (const service of [this.service, this.replicasService]) for (const [key, value] of Object.entries(rolesAtRuntime)) service.metadata.addAnnotation(key, value);
    // Members replicate from each other (5432) and ask each other's REST API in a leader race (8008).
    this.allowFrom(this, { port: POSTGRES.portName, name: 'allow-postgres-to-postgres' });
    this.allowFrom(this, { port: POSTGRES_HA.apiPortName, name: 'allow-postgres-to-patroni' });
    // Patroni keeps its leader lock and cluster state in the Kubernetes API.
    this.apiServerPeer = { name: 'kube-apiserver', cidrs: settings.apiServer.cidrs };
    this.apiServerPort = settings.apiServer.port;
    this.allowTo(this.apiServerPeer, { ports: [this.apiServerPort] });
    // archive_command and pgbackrest restore run in the members.
    if (s3) {
      const repository = s3.cidrs.length > 0 ? { name: 'backup-repository', cidrs: s3.cidrs } : { name: 'backup-repository', internet: true as const };
      this.allowTo(repository, { ports: [s3.port] });
    }

    if (backup) {
      this.backupSelector = selectorLabels({ ...this.identity, component: 'database-backup' });
      this.addBackupJobs(backup);
    }
  }

  private addBackupJobs(backup: CheckedBackup): void {
    const name = POSTGRES_HA.backupName;
    const labels = { ...this.labels, ...this.backupSelector };
    new k8s.KubeServiceAccount(this, 'BackupServiceAccount', { metadata: { name, labels }, automountServiceAccountToken: false });
    // `kubectl exec service/postgres` reads the Service, lists its pods, and execs into a member only.
    new k8s.KubeRole(this, 'BackupRole', {
      metadata: { name, labels },
      rules: [
        { apiGroups: [''], resources: ['services'], resourceNames: [PostgresHa.NAME], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
        { apiGroups: [''], resources: ['pods/exec'], resourceNames: Array.from({ length: this.members }, (_, i) => `${PostgresHa.NAME}-${i}`), verbs: ['create'] },
      ],
    });
    new k8s.KubeRoleBinding(this, 'BackupRoleBinding', {
      metadata: { name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name }],
    });
    // kubectl exec goes through the Kubernetes API.
    const apiEgress = `allow-${name}-to-kube-apiserver-egress`;
    allowEgress(this, 'BackupApiServerEgress', { name: apiEgress, from: this.backupSelector!, to: this.apiServerPeer, ports: [{ port: this.apiServerPort }] });
    const image = formatImageReference(backup.kubectlImage);
    const uid = 65532;
    const pod = restrictedPodSecurityContext({ uid, gid: uid });
    const container = restrictedContainerSecurityContext({ uid, gid: uid });
    const accepted = scannerExceptionAnnotations({
      checkov: {
        CKV_K8S_38: `kubectl exec into the primary goes through the Kubernetes API: the token of ServiceAccount ${name}, bound to a Role that reads Service ${PostgresHa.NAME}, lists pods and execs into the members only`,
        ...(backup.kubectlImage.digest
          ? {}
          : {
              CKV_K8S_43: 'kubectl by tag: no digest of it is recorded in model/images.ts yet; setting postgres.backup.kubectlImage.digest pins one',
              CKV_K8S_15: 'IfNotPresent by tag: registry.k8s.io release tags are immutable (its image promoter never rewrites a tag)',
            }),
      },
    });
    for (const [i, type] of BACKUP_TYPES.entries()) {
      new k8s.KubeCronJob(this, `Backup-${type}`, {
        metadata: { name: PostgresHa.BACKUP_CRONJOB_NAMES[i], labels, annotations: accepted },
        spec: {
          schedule: backup.schedule[type],
          timeZone: 'Etc/UTC',
          // A running backup is never doubled; a missed run is started up to an hour late.
          concurrencyPolicy: 'Forbid',
          startingDeadlineSeconds: 3600,
          successfulJobsHistoryLimit: 3,
          failedJobsHistoryLimit: 3,
          jobTemplate: {
            metadata: { labels },
            spec: {
              backoffLimit: 2,
              activeDeadlineSeconds: 6 * 3600,
              template: {
                metadata: { labels },
                spec: {
                  serviceAccountName: name,
                  automountServiceAccountToken: true,
                  restartPolicy: 'Never',
                  enableServiceLinks: false,
                  securityContext: {
                    runAsNonRoot: pod.ensureNonRoot,
                    runAsUser: pod.user,
                    runAsGroup: pod.group,
                    seccompProfile: RUNTIME_DEFAULT_SECCOMP,
                  },
                  containers: [
                    {
                      name: 'backup',
                      image,
                      imagePullPolicy: backup.kubectlImage.pullPolicy ?? 'IfNotPresent',
                      // The Service selects the primary, where the data files are.
                      command: ['kubectl', 'exec', `service/${PostgresHa.NAME}`, '--container', 'postgres', '--', PATRONI_RUN, 'pgbackrest', `--stanza=${backup.stanza}`, `--type=${type}`, 'backup'],
                      // kubectl caches discovery under $HOME.
                      env: [{ name: 'HOME', value: TMP }],
                      resources: {
                        requests: { cpu: k8s.Quantity.fromString('10m'), memory: k8s.Quantity.fromString('32Mi'), 'ephemeral-storage': k8s.Quantity.fromString('64Mi') },
                        limits: { cpu: k8s.Quantity.fromString('100m'), memory: k8s.Quantity.fromString('128Mi'), 'ephemeral-storage': k8s.Quantity.fromString('64Mi') },
                      },
                      volumeMounts: [{ name: 'tmp', mountPath: TMP }],
                      securityContext: {
                        runAsNonRoot: container.ensureNonRoot,
                        runAsUser: container.user,
                        runAsGroup: container.group,
                        privileged: false,
                        allowPrivilegeEscalation: false,
                        readOnlyRootFilesystem: true,
                        capabilities: { drop: ['ALL'] },
                      },
                    },
                  ],
                  volumes: [{ name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('16Mi') } }],
                },
              },
            },
          },
        },
      });
    }
  }
}

type CheckedBackup = Omit<PostgresBackupSettings, 'enabled'>;

/** The backup props with defaults, checked with the environment schema's `postgres.backup` rules. */
function checkedBackup(props: PostgresHaBackupProps, ha: { antiAffinity: 'required' | 'preferred'; members: number }): CheckedBackup {
  const b = base.postgres.backup;
  const repository = props.repository ?? 's3';
  if (repository === 's3' && !props.s3) throw new Error('PostgresHa: backup.s3: required with backup.repository "s3"');
  const settings = {
    enabled: true,
    stanza: props.stanza ?? b.stanza,
    repository,
    // The S3 settings are only read with an s3 repository.
    s3: props.s3 ?? b.s3,
    pvc: { ...b.pvc, ...props.pvc },
    retention: props.retention ?? b.retention,
    schedule: props.schedule ?? b.schedule,
    kubectlImage: { ...b.kubectlImage, ...props.kubectlImage },
  };
  const checked = postgresBackupSchema.safeParse(settings);
  if (!checked.success) throw new Error(`PostgresHa: ${formatIssues(checked.error, ['backup']).join('; ')}`);
  const unpinned = unpinnedReason(settings.kubectlImage);
  if (unpinned) throw new Error(`PostgresHa: backup.kubectlImage: "${formatImageReference(settings.kubectlImage)}" ${unpinned}: pin a tag or a digest`);
  const rwo = readWriteOnceRepositoryIssue(settings, ha);
  if (rwo) throw new Error(`PostgresHa: backup.pvc.accessMode: ${rwo}`);
  const { enabled: _, ...checkedSettings } = checked.data;
  return checkedSettings;
}

/**
 * `run.sh`: the member's environment for the command it runs (see `PATRONI_RUN`):
 * - a passwd entry for the pod's UID through nss_wrapper when the image has none (initdb and
 *   postgres refuse to run as a UID without a name); the files live in `$HOME`;
 * - Patroni's superuser and replication passwords, and pgBackRest's S3 keys, read from the
 *   mounted Secret files into the variables they read (PATRONI_*, PGBACKREST_REPO1_S3_KEY*).
 */
/**
 * Shell lines that give a UID without a passwd entry the name `postgres` through nss_wrapper
 * (initdb and postgres refuse a nameless UID); files go to `$HOME`.
 */
export function nssWrapperLines(): string[] {
  return [
    `if ! getent passwd "$(id -u)" >/dev/null 2>&1 && [ -r ${PATRONI_IMAGE_CONTRACT.nssWrapperLibrary} ]; then`,
    '  printf \'postgres:x:%s:%s:PostgreSQL:%s:/bin/sh\\n\' "$(id -u)" "$(id -g)" "$HOME" >"$HOME/passwd.$$"',
    '  printf \'postgres:x:%s:\\n\' "$(id -g)" >"$HOME/group.$$"',
    '  mv -f "$HOME/passwd.$$" "$HOME/passwd"',
    '  mv -f "$HOME/group.$$" "$HOME/group"',
    `  export LD_PRELOAD=${PATRONI_IMAGE_CONTRACT.nssWrapperLibrary} NSS_WRAPPER_PASSWD="$HOME/passwd" NSS_WRAPPER_GROUP="$HOME/group"`,
    'fi',
  ];
}

function runScript(withBackup: boolean): string {
  const p = POSTGRES_HA.patroniSecret;
  const s3 = POSTGRES_HA.backupS3Secret;
  const load = (variable: string, file: string) => [`${variable}=$(cat ${file})`, `export ${variable}`];
  return [
    '#!/bin/sh',
    'set -eu',
    ...nssWrapperLines(),
    ...load('PATRONI_SUPERUSER_PASSWORD', secretFilePath(p.name, p.keys.superuserPassword)),
    ...load('PATRONI_REPLICATION_PASSWORD', secretFilePath(p.name, p.keys.replicationPassword)),
    ...(withBackup
      ? [...load('PGBACKREST_REPO1_S3_KEY', secretFilePath(s3.name, s3.keys.accessKey)), ...load('PGBACKREST_REPO1_S3_KEY_SECRET', secretFilePath(s3.name, s3.keys.secretKey))]
      : []),
    'exec "$@"',
    '',
  ].join('\n');
}

/**
 * Runs once on the new primary after initdb (Patroni `post_bootstrap`, libpq URL as `$1`):
 * creates the application role and database from the credentials Secret's files (idempotent,
 * so a restore bootstrap can run it again; psql reads the values itself, so they never appear
 * in a command line) and the pgBackRest stanza.
 */
function postBootstrapScript(credentialsSecret: string, stanza: string | undefined): string {
  const k = SECRETS.postgres.keys;
  const file = (key: string) => secretFilePath(credentialsSecret, key);
  return [
    '#!/bin/sh',
    'set -eu',
    'psql -v ON_ERROR_STOP=1 --no-psqlrc "$1" <<\'SQL\'',
    `\\set user \`cat ${file(k.username)}\``,
    `\\set password \`cat ${file(k.password)}\``,
    `\\set db \`cat ${file(k.database)}\``,
    "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'user', :'password') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \\gexec",
    "SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec",
    'SQL',
    ...(stanza ? [`pgbackrest --stanza=${stanza} stanza-create`] : []),
    '',
  ].join('\n');
}
