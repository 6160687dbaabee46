import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { SECRETS } from '@expense-tracker/model/app-contract';
import { REDIS } from '@expense-tracker/model/components';
import type { ResourceSettings } from '@expense-tracker/model/environment-schema';
import { base } from '@expense-tracker/model/environments/base';
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

/** Seconds an exec probe may take (a shell and redis-cli on a busy node). */
const PROBE_TIMEOUT = Duration.seconds(5);

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
      podIdentity: { uid: REDIS.uid, gid: REDIS.uid },
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
      : this.scratchVolume('data', Size.mebibytes(256));
    const persistenceArgs = persistence ? ['--appendonly', 'yes'] : ['--appendonly', 'no', '--save', ''];
    const password = this.secretFiles(props.passwordSecretName ?? SECRETS.redis.name, [SECRETS.redis.keys.password]);
    const passwordFile = password.path(SECRETS.redis.keys.password);
    this.addContainer({
      name: 'redis',
      // `redis-server -` reads configuration from stdin before its arguments: `requirepass`
      // arrives through a here-document, so the password is in no argument and no environment
      // variable (argv and environ are readable in /proc). The value is quoted for Redis's
      // config parser (backslash and double quote escaped). umask 0077 as the official
      // entrypoint sets it (this command replaces the entrypoint): data files stay private.
      command: [
        'sh',
        '-c',
        ['umask 0077', 'exec redis-server - "$@" <<EOF', String.raw`requirepass "$(sed 's/[\\"]/\\&/g' ${passwordFile})"`, 'EOF'].join('\n'),
        'redis-server',
      ],
      args: ['--port', String(REDIS.port), '--dir', '/data', ...persistenceArgs],
      ports: [{ number: REDIS.port, name: REDIS.portName }],
      volumeMounts: [{ path: '/data', volume: data }, password.mount],
      // Readiness: an authenticated PING answers PONG (not while the dataset is still loading).
      // redis-cli --askpass reads the password from stdin, never from argv or the environment.
      readiness: kplus.Probe.fromCommand(['sh', '-c', `test "$(redis-cli --askpass -h 127.0.0.1 -p ${REDIS.port} ping < ${passwordFile})" = PONG`], {
        periodSeconds: Duration.seconds(5),
        failureThreshold: 3,
        timeoutSeconds: PROBE_TIMEOUT,
      }),
      // Liveness: the event loop answers at all, without the password (NOAUTH), while loading
      // (LOADING) or behind a long script (BUSY): only silence means Redis is wedged.
      liveness: kplus.Probe.fromCommand(['sh', '-c', `case "$(redis-cli -h 127.0.0.1 -p ${REDIS.port} ping 2>&1)" in PONG|*NOAUTH*|*LOADING*|*BUSY*) exit 0 ;; *) exit 1 ;; esac`], {
        periodSeconds: Duration.seconds(10),
        failureThreshold: 3,
        timeoutSeconds: PROBE_TIMEOUT,
      }),
    });
    this.acceptScannerFindings({
      kubeScore: {
        'deployment-replicas':
          'one Redis by design: no replication is configured, so a second replica would be a second, separate cache; the app treats Redis as a cache and reconnects after a restart',
        'deployment-strategy': 'Recreate: the one pod may hold the ReadWriteOnce claim redis-data, which a surge pod could not mount',
      },
    });
    this.service = this.exposeViaService('Service', { name: REDIS.name, ports: [{ name: REDIS.portName, port: REDIS.port }] });
  }
}
