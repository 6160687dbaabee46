import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { SECRETS } from '@expense-tracker/model/app-contract';
import { POSTGRES } from '@expense-tracker/model/components';
import type { ResourceSettings } from '@expense-tracker/model/environment-schema';
import { base } from '@expense-tracker/model/environments/base';
import { POSTGRES_UID } from '@expense-tracker/model/images';
import { STORAGE_QUANTITY } from '@expense-tracker/model/quantities';
import { Workload, type WorkloadImage } from './workload.js';

/** Props for `Postgres`. */
export interface PostgresProps {
  /**
   * Pinned image of the official `postgres` image family (Debian variant, UID 999).
   * @default the base environment's `postgres.image` (model/images.ts PINNED_IMAGES)
   */
  readonly image?: WorkloadImage;
  /**
   * Size of the `data` volumeClaimTemplate (bytes, binary suffix).
   * @default '1Gi' (model/environments/base.ts)
   */
  readonly storage?: string;
  /**
   * StorageClass of the `data` claims.
   * @default 'standard' (model/environments/base.ts)
   */
  readonly storageClassName?: string;
  /**
   * Requests and limits of the postgres container.
   * @default 100m/128Mi requested, 500m/512Mi limit (model/environments/base.ts)
   */
  readonly resources?: ResourceSettings;
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

/**
 * PostgreSQL as a single-replica StatefulSet `postgres` with a `data` volumeClaimTemplate
 * (ReadWriteOnce; claims named `data-postgres-<ordinal>`, retained when the StatefulSet is deleted
 * or scaled down), the headless Service `postgres-headless` as its `serviceName`, and the
 * ClusterIP Service `postgres` clients use (`host`:`port`).
 * @throws Error naming the prop for an unpinned image or a malformed storage size
 */
export class Postgres extends Workload {
  static readonly NAME = POSTGRES.name;
  static readonly HEADLESS_NAME = POSTGRES.headlessServiceName;
  static readonly PORT = POSTGRES.port;
  /** Name of the volumeClaimTemplate; claims are `<template>-postgres-<ordinal>`. */
  static readonly DATA_CLAIM_TEMPLATE = 'data';
  /** Service `postgres`. */
  readonly service: kplus.Service;
  /** Host name clients connect to (the Service). */
  readonly host = POSTGRES.name;
  /** TCP port clients connect to. */
  readonly port = POSTGRES.port;

  constructor(scope: Construct, id: string, props: PostgresProps = {}) {
    const storage = props.storage ?? base.postgres.storage;
    if (!STORAGE_QUANTITY.test(storage)) throw new Error(`Postgres: storage: must look like "1Gi", got "${storage}"`);
    super(scope, id, {
      kind: 'StatefulSet',
      name: POSTGRES.name,
      identity: POSTGRES.identity,
      peerName: 'postgres',
      instance: props.instance,
      image: props.image ?? base.postgres.image,
      resources: props.resources ?? base.postgres.resources,
      podIdentity: { uid: POSTGRES_UID, gid: POSTGRES_UID, fsGroup: POSTGRES_UID },
      terminationGracePeriodSeconds: 60,
      statefulSet: {
        serviceName: POSTGRES.headlessServiceName,
        ports: [{ name: POSTGRES.portName, port: POSTGRES.port }],
        volumeClaims: [{ name: Postgres.DATA_CLAIM_TEMPLATE, mountPath: POSTGRES.dataMountPath, storage, storageClassName: props.storageClassName ?? base.postgres.storageClassName }],
      },
    });

    const secret = kplus.Secret.fromSecretName(this, 'Credentials', props.credentialsSecretName ?? SECRETS.postgres.name);
    const fromSecret = (key: string) => kplus.EnvValue.fromSecretValue({ secret, key });
    const run = kplus.Volume.fromEmptyDir(this, 'Run', 'run', { sizeLimit: Size.mebibytes(8) });
    const tmp = kplus.Volume.fromEmptyDir(this, 'Tmp', 'tmp', { sizeLimit: Size.mebibytes(256) });
    // The probe runs in a shell because exec probes do not expand $(VAR) references.
    const isReady = ['sh', '-c', `exec pg_isready -U "$POSTGRES_USER" -d "$POSTGRES_DB" -h 127.0.0.1 -p ${POSTGRES.port}`];
    this.addContainer({
      name: 'postgres',
      ports: [{ number: POSTGRES.port, name: POSTGRES.portName }],
      envVariables: {
        POSTGRES_USER: fromSecret(SECRETS.postgres.keys.username),
        POSTGRES_PASSWORD: fromSecret(SECRETS.postgres.keys.password),
        POSTGRES_DB: fromSecret(SECRETS.postgres.keys.database),
        PGDATA: kplus.EnvValue.fromValue(POSTGRES.pgdata),
      },
      volumeMounts: [
        { path: '/var/run/postgresql', volume: run },
        { path: '/tmp', volume: tmp },
      ],
      startup: kplus.Probe.fromCommand(isReady, { periodSeconds: Duration.seconds(2), failureThreshold: 60 }),
      readiness: kplus.Probe.fromCommand(isReady, { periodSeconds: Duration.seconds(5), failureThreshold: 3 }),
      liveness: kplus.Probe.fromCommand(isReady, { periodSeconds: Duration.seconds(10), failureThreshold: 6 }),
    });
    this.service = this.exposeViaService('Service', { name: POSTGRES.name, ports: [{ name: POSTGRES.portName, port: POSTGRES.port }] });
  }
}
