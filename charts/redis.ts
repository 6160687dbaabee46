import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { SECRETS } from '@expense-tracker/model/app-contract';
import { type ComponentIdentity, recommendedLabels, selectorLabels } from '@expense-tracker/model/naming';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, restrictPodTemplate } from './pod-security.js';
import { containerResources, type ResourceSpec } from './resources.js';
import { imageTag } from './web.js';
import { formatImageReference, PINNED_IMAGES, REDIS_UID } from '@expense-tracker/model/images';
import { STORAGE_QUANTITY } from '@expense-tracker/model/quantities';

/** Props for `Redis`. */
export interface RedisProps {
  /**
   * Pinned image of the official `redis` image family (Debian variant, UID 999).
   * @default 'redis:7.2.16-bookworm'
   */
  readonly image?: string;
  /**
   * Image pull policy.
   * @default kplus.ImagePullPolicy.IF_NOT_PRESENT
   */
  readonly imagePullPolicy?: kplus.ImagePullPolicy;
  /**
   * Keep data on a PersistentVolumeClaim `redis-data` (append-only file); otherwise an
   * emptyDir, and Redis is a pure cache (sessions are lost when the pod restarts).
   * @default false
   */
  readonly persistence?: boolean;
  /**
   * Size of the claim when `persistence` is on (bytes, binary suffix).
   * @default '1Gi'
   */
  readonly storage?: string;
  /**
   * StorageClass of the claim when `persistence` is on.
   * @default 'standard'
   */
  readonly storageClassName?: string;
  /**
   * Requests and limits of the redis container.
   * @default 50m/64Mi requested, 500m/256Mi limit
   */
  readonly resources?: ResourceSpec;
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
 * @throws Error for an unpinned image or a malformed storage size.
 */
export class Redis extends Construct {
  static readonly NAME = 'redis';
  static readonly PORT = 6379;
  readonly deployment: kplus.Deployment;
  readonly service: kplus.Service;
  readonly identity: ComponentIdentity;
  readonly selector: Record<string, string>;

  constructor(scope: Construct, id: string, props: RedisProps = {}) {
    super(scope, id);
    const image = props.image ?? formatImageReference(PINNED_IMAGES.redis);
    const persistence = props.persistence ?? false;
    const storage = props.storage ?? '1Gi';
    if (!STORAGE_QUANTITY.test(storage)) throw new Error(`Redis storage must look like "1Gi", got "${storage}"`);

    this.identity = { name: 'redis', instance: props.instance ?? 'expense-tracker', component: 'cache', version: imageTag(image) };
    this.selector = selectorLabels(this.identity);
    const labels = recommendedLabels(this.identity);
    const identity = { uid: REDIS_UID, gid: REDIS_UID, fsGroup: REDIS_UID };
    const secret = kplus.Secret.fromSecretName(this, 'Password', props.passwordSecretName ?? SECRETS.redis.name);

    if (persistence) {
      // L1 claim: the storage quantity is written exactly as configured (e.g. "10Gi").
      new k8s.KubePersistentVolumeClaim(this, 'Claim', {
        metadata: { name: 'redis-data', labels },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: props.storageClassName ?? 'standard',
          volumeMode: 'Filesystem',
          resources: { requests: { storage: k8s.Quantity.fromString(storage) } },
        },
      });
    }
    const data = persistence
      ? kplus.Volume.fromPersistentVolumeClaim(this, 'Data', kplus.PersistentVolumeClaim.fromClaimName(this, 'ClaimRef', 'redis-data'), {
          name: 'data',
        })
      : kplus.Volume.fromEmptyDir(this, 'Data', 'data', { sizeLimit: Size.mebibytes(256) });
    const persistenceArgs = persistence ? ['--appendonly', 'yes'] : ['--appendonly', 'no', '--save', ''];
    // REDISCLI_AUTH lets redis-cli authenticate without the password on its command line.
    const ping = ['sh', '-c', 'redis-cli -h 127.0.0.1 ping | grep -q PONG'];

    this.deployment = new kplus.Deployment(this, 'Deployment', {
      metadata: { name: Redis.NAME, labels },
      podMetadata: { labels },
      select: false,
      replicas: 1,
      strategy: kplus.DeploymentStrategy.recreate(),
      securityContext: restrictedPodSecurityContext(identity),
      automountServiceAccountToken: false,
      terminationGracePeriod: Duration.seconds(30),
      containers: [
        {
          name: 'redis',
          image,
          imagePullPolicy: props.imagePullPolicy ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
          // Kubernetes expands $(REDIS_PASSWORD) in args from the container's environment.
          command: ['redis-server'],
          args: ['--port', String(Redis.PORT), '--dir', '/data', '--requirepass', '$(REDIS_PASSWORD)', ...persistenceArgs],
          ports: [{ number: Redis.PORT, name: 'redis' }],
          envVariables: {
            REDIS_PASSWORD: kplus.EnvValue.fromSecretValue({ secret, key: SECRETS.redis.keys.password }),
            REDISCLI_AUTH: kplus.EnvValue.fromSecretValue({ secret, key: SECRETS.redis.keys.password }),
          },
          resources: containerResources(
            props.resources ?? { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
          ),
          securityContext: restrictedContainerSecurityContext(identity),
          volumeMounts: [{ path: '/data', volume: data }],
          readiness: kplus.Probe.fromCommand(ping, { periodSeconds: Duration.seconds(5), failureThreshold: 3 }),
          liveness: kplus.Probe.fromTcpSocket({ port: Redis.PORT, periodSeconds: Duration.seconds(10), failureThreshold: 3 }),
        },
      ],
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: this.selector }));
    restrictPodTemplate(this.deployment);

    this.service = new kplus.Service(this, 'Service', {
      metadata: { name: Redis.NAME, labels },
      selector: kplus.Pods.select(this, 'Pods', { labels: this.selector }),
      ports: [{ name: 'redis', port: Redis.PORT, targetPort: Redis.PORT }],
    });
    ApiObject.of(this.service).addJsonPatch(JsonPatch.replace('/spec/ports/0/targetPort', k8s.IntOrString.fromString('redis')));
  }
}
