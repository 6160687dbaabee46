import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { SECRETS } from '@expense-tracker/model/app-contract';
import { POSTGRES } from '@expense-tracker/model/components';
import type { ResourceSettings } from '@expense-tracker/model/environment-schema';
import { base } from '@expense-tracker/model/environments/base';
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

/** Seconds an exec probe may take: a shell, `cat` and pg_isready's own 3 s connect timeout. */
const PROBE_TIMEOUT = Duration.seconds(5);

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
      podIdentity: { uid: POSTGRES.uid, gid: POSTGRES.uid },
      terminationGracePeriodSeconds: 60,
      statefulSet: {
        serviceName: POSTGRES.headlessServiceName,
        ports: [{ name: POSTGRES.portName, port: POSTGRES.port }],
        volumeClaims: [{ name: Postgres.DATA_CLAIM_TEMPLATE, mountPath: POSTGRES.dataMountPath, storage, storageClassName: props.storageClassName ?? base.postgres.storageClassName }],
      },
    });

    // The official entrypoint reads POSTGRES_USER/PASSWORD/DB from `<NAME>_FILE` (its `file_env`).
    const k = SECRETS.postgres.keys;
    const credentials = this.secretFiles(props.credentialsSecretName ?? SECRETS.postgres.name, [k.username, k.password, k.database]);
    const run = this.scratchVolume('run', Size.mebibytes(8));
    const tmp = this.scratchVolume('tmp', Size.mebibytes(256));
    // pg_isready exit codes: 0 accepting connections, 1 rejecting them (starting, recovering,
    // shutting down), 2 no response, 3 no attempt. It authenticates nothing, so the user and
    // database only name the startup packet (https://www.postgresql.org/docs/15/app-pg-isready.html).
    const pgIsReady = `pg_isready -q -t 3 -h 127.0.0.1 -p ${POSTGRES.port} -U "$(cat ${credentials.path(k.username)})" -d "$(cat ${credentials.path(k.database)})"`;
    // Readiness: the server accepts connections (clients may be sent to it).
    const accepting = ['sh', '-c', `exec ${pgIsReady}`];
    // Liveness: the postmaster answers at all, accepting or not: a long crash recovery or a
    // replay answers "rejecting" and must not be restarted; only silence means it is wedged.
    const answering = ['sh', '-c', `${pgIsReady}; test $? -le 1`];
    this.addContainer({
      name: 'postgres',
      ports: [{ number: POSTGRES.port, name: POSTGRES.portName }],
      envVariables: {
        POSTGRES_USER_FILE: kplus.EnvValue.fromValue(credentials.path(k.username)),
        POSTGRES_PASSWORD_FILE: kplus.EnvValue.fromValue(credentials.path(k.password)),
        POSTGRES_DB_FILE: kplus.EnvValue.fromValue(credentials.path(k.database)),
        PGDATA: kplus.EnvValue.fromValue(POSTGRES.pgdata),
      },
      volumeMounts: [
        { path: '/var/run/postgresql', volume: run },
        { path: '/tmp', volume: tmp },
        credentials.mount,
      ],
      // The first start runs initdb: up to two minutes before the server listens.
      startup: kplus.Probe.fromCommand(accepting, { periodSeconds: Duration.seconds(2), failureThreshold: 60, timeoutSeconds: PROBE_TIMEOUT }),
      readiness: kplus.Probe.fromCommand(accepting, { periodSeconds: Duration.seconds(5), failureThreshold: 3, timeoutSeconds: PROBE_TIMEOUT }),
      liveness: kplus.Probe.fromCommand(answering, { periodSeconds: Duration.seconds(10), failureThreshold: 6, timeoutSeconds: PROBE_TIMEOUT }),
    });
    this.service = this.exposeViaService('Service', { name: POSTGRES.name, ports: [{ name: POSTGRES.portName, port: POSTGRES.port }] });
  }
}
