import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { SECRETS } from '@expense-tracker/model/app-contract';
import { REDIS } from '@expense-tracker/model/components';
import type { ResourceSettings } from '@expense-tracker/model/environment-schema';
import { base } from '@expense-tracker/model/environments/base';
import { REDIS_UID } from '@expense-tracker/model/images';
import { STORAGE_QUANTITY } from '@expense-tracker/model/quantities';
import { Workload, type WorkloadImage } from './workload.js';

/** Props for `Redis`. */
export interface RedisProps {
  /**
   * Pinned image of the official `redis` image family (Debian variant, UID 999).
   * @default the base environment's `redis.image` (model/images.ts PINNED_IMAGES)
   */
  readonly image?: WorkloadImage;
  /**
   * Keep data on a PersistentVolumeClaim `redis-data` (append-only file); otherwise an
   * emptyDir, and Redis is a pure cache (sessions are lost when the pod restarts).
   * @default false (model/environments/base.ts)
   */
  readonly persistence?: boolean;
  /**
   * Size of the claim when `persistence` is on (bytes, binary suffix).
   * @default '1Gi' (model/environments/base.ts)
   */
  readonly storage?: string;
  /**
   * StorageClass of the claim when `persistence` is on.
   * @default 'standard' (model/environments/base.ts)
   */
  readonly storageClassName?: string;
  /**
   * Requests and limits of the redis container.
   * @default 50m/64Mi requested, 500m/256Mi limit (model/environments/base.ts)
   */
  readonly resources?: ResourceSettings;
  /**
   * Name of the Secret holding the `password` key (`requirepass`).
   * @default 'redis-credentials'
   */
  readonly passwordSecretName?: string;
  /**
   * `app.kubernetes.io/instance` label value.
   * @default 'expense-tracker'
   */
  readonly instance?: string;
}

/**
 * Redis as Deployment `redis` (one replica, `Recreate` strategy so a ReadWriteOnce claim is
 * never mounted twice) and ClusterIP Service `redis` on 6379, password-protected with
 * `--requirepass` from a Secret. With `persistence` the data directory is the PVC
 * `redis-data` and the append-only file is on; without it, an emptyDir and no snapshots.
 * @throws Error naming the prop for an unpinned image or a malformed storage size
 */
export class Redis extends Workload {
  static readonly NAME = REDIS.name;
  static readonly PORT = REDIS.port;
  /** Service `redis`. */
  readonly service: kplus.Service;
  /** Host name clients connect to (the Service). */
  readonly host = REDIS.name;
  /** TCP port clients connect to. */
  readonly port = REDIS.port;

  constructor(scope: Construct, id: string, props: RedisProps = {}) {
    const persistence = props.persistence ?? base.redis.persistence.enabled;
    const storage = props.storage ?? base.redis.persistence.storage;
    if (!STORAGE_QUANTITY.test(storage)) throw new Error(`Redis: storage: must look like "1Gi", got "${storage}"`);
    super(scope, id, {
      kind: 'Deployment',
      name: REDIS.name,
      identity: REDIS.identity,
      peerName: 'redis',
      instance: props.instance,
      image: props.image ?? base.redis.image,
      resources: props.resources ?? base.redis.resources,
      podIdentity: { uid: REDIS_UID, gid: REDIS_UID, fsGroup: REDIS_UID },
      strategy: 'recreate',
    });

    if (persistence) {
      // L1 claim: the storage quantity is written exactly as configured (e.g. "10Gi").
      new k8s.KubePersistentVolumeClaim(this, 'Claim', {
        metadata: { name: REDIS.claimName, labels: this.labels },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: props.storageClassName ?? base.redis.persistence.storageClassName,
          volumeMode: 'Filesystem',
          resources: { requests: { storage: k8s.Quantity.fromString(storage) } },
        },
      });
    }
    const data = persistence
      ? kplus.Volume.fromPersistentVolumeClaim(this, 'Data', kplus.PersistentVolumeClaim.fromClaimName(this, 'ClaimRef', REDIS.claimName), { name: 'data' })
      : kplus.Volume.fromEmptyDir(this, 'Data', 'data', { sizeLimit: Size.mebibytes(256) });
    const persistenceArgs = persistence ? ['--appendonly', 'yes'] : ['--appendonly', 'no', '--save', ''];
    const secret = kplus.Secret.fromSecretName(this, 'Password', props.passwordSecretName ?? SECRETS.redis.name);
    // REDISCLI_AUTH lets redis-cli authenticate without the password on its command line.
    const ping = ['sh', '-c', 'redis-cli -h 127.0.0.1 ping | grep -q PONG'];
    this.addContainer({
      name: 'redis',
      // Kubernetes expands $(REDIS_PASSWORD) in args from the container's environment.
      command: ['redis-server'],
      args: ['--port', String(REDIS.port), '--dir', '/data', '--requirepass', '$(REDIS_PASSWORD)', ...persistenceArgs],
      ports: [{ number: REDIS.port, name: REDIS.portName }],
      envVariables: {
        REDIS_PASSWORD: kplus.EnvValue.fromSecretValue({ secret, key: SECRETS.redis.keys.password }),
        REDISCLI_AUTH: kplus.EnvValue.fromSecretValue({ secret, key: SECRETS.redis.keys.password }),
      },
      volumeMounts: [{ path: '/data', volume: data }],
      readiness: kplus.Probe.fromCommand(ping, { periodSeconds: Duration.seconds(5), failureThreshold: 3 }),
      liveness: kplus.Probe.fromTcpSocket({ port: REDIS.port, periodSeconds: Duration.seconds(10), failureThreshold: 3 }),
    });
    this.service = this.exposeViaService('Service', { name: REDIS.name, ports: [{ name: REDIS.portName, port: REDIS.port }] });
  }
}
