import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  APP_GID,
  APP_MIGRATE_COMMAND,
  APP_PORT,
  APP_PORT_NAME,
  APP_SECRET_ENV,
  APP_SERVER_COMMAND,
  APP_UID,
  APP_WORKDIR,
  HEALTH_PATH,
  READY_PATH,
} from '@expense-tracker/model/app-contract';
import { parseImageReference } from '@expense-tracker/model/images';
import type { ResourceSpec } from './resources.js';
import { containerResources } from './resources.js';
import { type ComponentIdentity, recommendedLabels, selectorLabels } from '@expense-tracker/model/naming';
import { PodDisruptionBudget } from './pod-disruption-budget.js';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, restrictPodTemplate } from './pod-security.js';

/** Props for `Web`. */
export interface WebProps {
  /**
   * Image reference `repository:tag` of the app.
   * @default 'localhost:5000/expense-tracker:0.1.0'
   */
  readonly image?: string;
  /**
   * Image pull policy.
   * @default kplus.ImagePullPolicy.IF_NOT_PRESENT
   */
  readonly imagePullPolicy?: kplus.ImagePullPolicy;
  /**
   * Number of pods (1–100).
   * @default 2
   */
  readonly replicas?: number;
  /**
   * Container requests and limits.
   * @default 50m/64Mi requested, 500m/256Mi limit
   */
  readonly resources?: ResourceSpec;
  /**
   * Seconds between SIGTERM and SIGKILL; must exceed `preStopSleepSeconds` so in-flight
   * requests can finish after endpoints are drained.
   * @default 30
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * Seconds the preStop hook sleeps before the container receives SIGTERM, so kube-proxy and
   * ingress controllers remove the pod from their endpoints first
   * (https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/).
   * @default 5
   */
  readonly preStopSleepSeconds?: number;
  /**
   * ConfigMap whose keys become the container's environment (`envFrom`).
   * @default - the ConfigMap named `expense-config`
   */
  readonly configMap?: kplus.IConfigMap;
  /**
   * Labels identity; `component` is always `web`.
   * @default name `expense-tracker`, instance `expense-tracker`, version = image tag
   */
  readonly instance?: string;
}

/**
 * The expense tracker's web tier: Deployment `expense-web`, Service `expense-web`
 * (port 80 → named container port `http`) and a PodDisruptionBudget.
 *
 * Database migrations run as the `migrate` initContainer (`node dist/cli.js migrate`): every
 * new pod applies pending migrations before the server starts, so `kubectl apply` and
 * `pulumi up` need no extra Job ordering, and a Job's immutable pod template never blocks an
 * upgrade. The migration tool takes a PostgreSQL advisory lock, so concurrent pods are safe.
 *
 * @throws Error naming the prop when `replicas`, `terminationGracePeriodSeconds`,
 *   `preStopSleepSeconds` or `image` are invalid.
 */
export class Web extends Construct {
  /** `metadata.name` of the Deployment, the Service and the Ingress backend. */
  static readonly NAME = 'expense-web';
  readonly deployment: kplus.Deployment;
  readonly service: kplus.Service;
  readonly identity: ComponentIdentity;
  /** Labels that select the web pods. */
  readonly selector: Record<string, string>;

  constructor(scope: Construct, id: string, props: WebProps = {}) {
    super(scope, id);
    const image = props.image ?? 'localhost:5000/expense-tracker:0.1.0';
    const tag = imageTag(image);
    const replicas = props.replicas ?? 2;
    const grace = props.terminationGracePeriodSeconds ?? 30;
    const preStop = props.preStopSleepSeconds ?? 5;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 100) {
      throw new Error(`Web replicas must be an integer from 1 to 100, got ${replicas}`);
    }
    if (!Number.isInteger(preStop) || preStop < 0) throw new Error(`Web preStopSleepSeconds must be >= 0, got ${preStop}`);
    if (!Number.isInteger(grace) || grace <= preStop) {
      throw new Error(`Web terminationGracePeriodSeconds (${grace}) must be an integer greater than preStopSleepSeconds (${preStop})`);
    }

    this.identity = { name: 'expense-tracker', instance: props.instance ?? 'expense-tracker', component: 'web', version: tag };
    this.selector = selectorLabels(this.identity);
    const labels = recommendedLabels(this.identity);
    const identity = { uid: APP_UID, gid: APP_GID };
    const configMap = props.configMap ?? kplus.ConfigMap.fromConfigMapName(this, 'Config', 'expense-config');
    const resources = containerResources(
      props.resources ?? { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
    );
    const secretEnv: Record<string, kplus.EnvValue> = {};
    for (const [variable, ref] of Object.entries(APP_SECRET_ENV)) {
      const secret = kplus.Secret.fromSecretName(this, `Secret-${variable}`, ref.secret);
      secretEnv[variable] = kplus.EnvValue.fromSecretValue({ secret, key: ref.key });
    }
    const tmp = kplus.Volume.fromEmptyDir(this, 'Tmp', 'tmp', { sizeLimit: Size.mebibytes(64) });
    const common = {
      image,
      imagePullPolicy: props.imagePullPolicy ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
      workingDir: APP_WORKDIR,
      envFrom: [kplus.Env.fromConfigMap(configMap)],
      envVariables: secretEnv,
      resources,
      securityContext: restrictedContainerSecurityContext(identity),
      volumeMounts: [{ path: '/tmp', volume: tmp }],
    };

    this.deployment = new kplus.Deployment(this, 'Deployment', {
      metadata: { name: Web.NAME, labels },
      podMetadata: { labels },
      select: false,
      replicas,
      strategy: kplus.DeploymentStrategy.rollingUpdate({
        maxSurge: kplus.PercentOrAbsolute.absolute(1),
        maxUnavailable: kplus.PercentOrAbsolute.absolute(0),
      }),
      minReady: Duration.seconds(0),
      progressDeadline: Duration.seconds(600),
      terminationGracePeriod: Duration.seconds(grace),
      securityContext: restrictedPodSecurityContext(identity),
      automountServiceAccountToken: false,
      initContainers: [{ ...common, name: 'migrate', command: [...APP_MIGRATE_COMMAND] }],
      containers: [
        {
          ...common,
          name: 'web',
          command: [...APP_SERVER_COMMAND],
          ports: [{ number: APP_PORT, name: APP_PORT_NAME }],
          startup: kplus.Probe.fromHttpGet(HEALTH_PATH, {
            port: APP_PORT,
            periodSeconds: Duration.seconds(2),
            failureThreshold: 30,
            timeoutSeconds: Duration.seconds(2),
          }),
          readiness: kplus.Probe.fromHttpGet(READY_PATH, {
            port: APP_PORT,
            periodSeconds: Duration.seconds(5),
            failureThreshold: 2,
            timeoutSeconds: Duration.seconds(2),
          }),
          liveness: kplus.Probe.fromHttpGet(HEALTH_PATH, {
            port: APP_PORT,
            periodSeconds: Duration.seconds(10),
            failureThreshold: 3,
            timeoutSeconds: Duration.seconds(2),
          }),
          lifecycle: { preStop: kplus.Handler.fromCommand(['sleep', String(preStop)]) },
        },
      ],
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: this.selector }));
    const pods = kplus.Pods.select(this, 'Pods', { labels: this.selector });
    // Soft anti-affinity: prefer spreading replicas over nodes, never block scheduling.
    this.deployment.scheduling.separate(pods, { weight: 100, topology: kplus.Topology.HOSTNAME });
    restrictPodTemplate(this.deployment);

    this.service = new kplus.Service(this, 'Service', {
      metadata: { name: Web.NAME, labels },
      selector: pods,
      ports: [{ name: APP_PORT_NAME, port: 80, targetPort: APP_PORT }],
    });
    // Target the named container port so a port change in the pod spec needs no Service change.
    // (IntOrString, not a bare string: the L1 serializer reads `.value` of IntOrString fields.)
    ApiObject.of(this.service).addJsonPatch(JsonPatch.replace('/spec/ports/0/targetPort', k8s.IntOrString.fromString(APP_PORT_NAME)));

    new PodDisruptionBudget(this, 'Budget', { name: Web.NAME, selector: this.selector, replicas, labels });
  }
}

/**
 * The tag of a `repository:tag` image reference.
 * @throws Error if the reference has no tag or uses `latest`.
 */
export function imageTag(image: string): string {
  const ref = parseImageReference(image);
  if (!ref.tag) throw new Error(`image must be pinned to a tag, got "${image}"`);
  if (ref.tag === 'latest') throw new Error(`image must not use the "latest" tag, got "${image}"`);
  return ref.tag;
}
