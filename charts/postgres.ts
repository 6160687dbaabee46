import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { SECRETS } from '@expense-tracker/model/app-contract';
import { type ComponentIdentity, recommendedLabels, selectorLabels } from '@expense-tracker/model/naming';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, restrictPodTemplate } from './pod-security.js';
import { containerResources, type ResourceSpec } from './resources.js';
import { imageTag } from './web.js';
import { formatImageReference, PINNED_IMAGES, POSTGRES_UID } from '@expense-tracker/model/images';
import { STORAGE_QUANTITY } from '@expense-tracker/model/quantities';

/** Props for `Postgres`. */
export interface PostgresProps {
  /**
   * Pinned image of the official `postgres` image family (Debian variant, UID 999).
   * @default 'postgres:15.10-bookworm'
   */
  readonly image?: string;
  /**
   * Image pull policy.
   * @default kplus.ImagePullPolicy.IF_NOT_PRESENT
   */
  readonly imagePullPolicy?: kplus.ImagePullPolicy;
  /**
   * Size of the `data` volumeClaimTemplate (bytes, binary suffix).
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
   * @default 100m/128Mi requested, 500m/512Mi limit
   */
  readonly resources?: ResourceSpec;
  /**
   * Name of the Secret holding `username`, `password` and `database`.
   * @default 'postgres-credentials'
   */
  readonly credentialsSecretName?: string;
  /**
   * `app.kubernetes.io/instance` label value.
   * @default 'expense-tracker'
   */
  readonly instance?: string;
}

/** Where the official image keeps its data; PGDATA is a subdirectory so lost+found never confuses initdb. */
const DATA_MOUNT = '/var/lib/postgresql/data';

/**
 * PostgreSQL as a single-replica StatefulSet `postgres` with a `data` volumeClaimTemplate
 * (ReadWriteOnce; claims named `data-postgres-<ordinal>`), the headless Service
 * `postgres-headless` as its `serviceName`, and the ClusterIP Service `postgres` clients use.
 *
 * cdk8s-plus-27 has no API for volumeClaimTemplates or `persistentVolumeClaimRetentionPolicy`;
 * both are added here as JSON patches on the StatefulSet, so users never see them.
 * Claims are retained when the StatefulSet is deleted or scaled down
 * (https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#persistentvolumeclaim-retention).
 *
 * @throws Error naming the prop for an unpinned image or a malformed storage size.
 */
export class Postgres extends Construct {
  static readonly NAME = 'postgres';
  static readonly HEADLESS_NAME = 'postgres-headless';
  static readonly PORT = 5432;
  /** Name of the volumeClaimTemplate; claims are `<template>-postgres-<ordinal>`. */
  static readonly DATA_CLAIM_TEMPLATE = 'data';
  readonly statefulSet: kplus.StatefulSet;
  readonly service: kplus.Service;
  readonly headlessService: kplus.Service;
  readonly identity: ComponentIdentity;
  readonly selector: Record<string, string>;

  constructor(scope: Construct, id: string, props: PostgresProps = {}) {
    super(scope, id);
    const image = props.image ?? formatImageReference(PINNED_IMAGES.postgres);
    const storage = props.storage ?? '1Gi';
    if (!STORAGE_QUANTITY.test(storage)) throw new Error(`Postgres storage must look like "1Gi", got "${storage}"`);
    const secretName = props.credentialsSecretName ?? SECRETS.postgres.name;

    this.identity = { name: 'postgresql', instance: props.instance ?? 'expense-tracker', component: 'database', version: imageTag(image) };
    this.selector = selectorLabels(this.identity);
    const labels = recommendedLabels(this.identity);
    const identity = { uid: POSTGRES_UID, gid: POSTGRES_UID, fsGroup: POSTGRES_UID };

    this.headlessService = new kplus.Service(this, 'HeadlessService', {
      metadata: { name: Postgres.HEADLESS_NAME, labels },
      clusterIP: 'None',
      ports: [{ name: 'postgresql', port: Postgres.PORT, targetPort: Postgres.PORT }],
    });

    const secret = kplus.Secret.fromSecretName(this, 'Credentials', secretName);
    const fromSecret = (key: string) => kplus.EnvValue.fromSecretValue({ secret, key });
    const run = kplus.Volume.fromEmptyDir(this, 'Run', 'run', { sizeLimit: Size.mebibytes(8) });
    const tmp = kplus.Volume.fromEmptyDir(this, 'Tmp', 'tmp', { sizeLimit: Size.mebibytes(256) });
    // The probe runs in a shell because exec probes do not expand $(VAR) references.
    const isReady = ['sh', '-c', 'exec pg_isready -U "$POSTGRES_USER" -d "$POSTGRES_DB" -h 127.0.0.1 -p 5432'];

    this.statefulSet = new kplus.StatefulSet(this, 'StatefulSet', {
      metadata: { name: Postgres.NAME, labels },
      podMetadata: { labels },
      select: false,
      service: this.headlessService,
      replicas: 1,
      podManagementPolicy: kplus.PodManagementPolicy.ORDERED_READY,
      terminationGracePeriod: Duration.seconds(60),
      securityContext: restrictedPodSecurityContext(identity),
      automountServiceAccountToken: false,
      containers: [
        {
          name: 'postgres',
          image,
          imagePullPolicy: props.imagePullPolicy ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
          ports: [{ number: Postgres.PORT, name: 'postgresql' }],
          envVariables: {
            POSTGRES_USER: fromSecret(SECRETS.postgres.keys.username),
            POSTGRES_PASSWORD: fromSecret(SECRETS.postgres.keys.password),
            POSTGRES_DB: fromSecret(SECRETS.postgres.keys.database),
            PGDATA: kplus.EnvValue.fromValue(`${DATA_MOUNT}/pgdata`),
          },
          resources: containerResources(
            props.resources ?? { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
          ),
          securityContext: restrictedContainerSecurityContext(identity),
          volumeMounts: [
            { path: '/var/run/postgresql', volume: run },
            { path: '/tmp', volume: tmp },
          ],
          startup: kplus.Probe.fromCommand(isReady, { periodSeconds: Duration.seconds(2), failureThreshold: 60 }),
          readiness: kplus.Probe.fromCommand(isReady, { periodSeconds: Duration.seconds(5), failureThreshold: 3 }),
          liveness: kplus.Probe.fromCommand(isReady, { periodSeconds: Duration.seconds(10), failureThreshold: 6 }),
        },
      ],
    });
    this.statefulSet.select(kplus.LabelSelector.of({ labels: this.selector }));
    restrictPodTemplate(this.statefulSet);
    ApiObject.of(this.statefulSet).addJsonPatch(
      JsonPatch.add('/spec/template/spec/containers/0/volumeMounts/-', { name: Postgres.DATA_CLAIM_TEMPLATE, mountPath: DATA_MOUNT }),
      JsonPatch.add('/spec/volumeClaimTemplates', [
        {
          metadata: { name: Postgres.DATA_CLAIM_TEMPLATE, labels },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName: props.storageClassName ?? 'standard',
            resources: { requests: { storage: k8s.Quantity.fromString(storage) } },
          },
        },
      ]),
      JsonPatch.add('/spec/persistentVolumeClaimRetentionPolicy', { whenDeleted: 'Retain', whenScaled: 'Retain' }),
    );

    // Both Services select by the recommended labels (the StatefulSet would add its cdk8s address label).
    ApiObject.of(this.headlessService).addJsonPatch(JsonPatch.replace('/spec/selector', this.selector));
    this.service = new kplus.Service(this, 'Service', {
      metadata: { name: Postgres.NAME, labels },
      selector: kplus.Pods.select(this, 'Pods', { labels: this.selector }),
      ports: [{ name: 'postgresql', port: Postgres.PORT, targetPort: Postgres.PORT }],
    });
    ApiObject.of(this.service).addJsonPatch(JsonPatch.replace('/spec/ports/0/targetPort', k8s.IntOrString.fromString('postgresql')));
  }
}
