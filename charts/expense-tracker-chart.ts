import { Chart, type ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { APP_PORT } from './app-contract.js';
import { AppConfigMap } from './config-map.js';
import { type EnvironmentConfig, loadEnvironment } from './environments.js';
import { WebIngress } from './ingress.js';
import { MANAGED_BY, PART_OF } from './labels.js';
import { RestrictedNamespace } from './namespace.js';
import { NetworkPolicies } from './network-policy.js';
import { Postgres } from './postgres.js';
import { Redis } from './redis.js';
import { Web } from './web.js';

/** Props for `ExpenseTrackerChart`. */
export interface ExpenseTrackerChartProps extends Omit<ChartProps, 'namespace'> {
  /**
   * Validated environment to render.
   * @default - the `local` environment with default settings
   */
  readonly environment?: EnvironmentConfig;
}

/**
 * Every Kubernetes object of the expense tracker for one environment: the restricted
 * Namespace, `expense-config` ConfigMap, web Deployment/Service/PDB, PostgreSQL StatefulSet
 * with its Services, Redis, the Ingress and the NetworkPolicies.
 *
 * Secrets are referenced by name and never rendered (see `SECRETS` in `app-contract.ts` and
 * `scripts/create-secrets.ts`), so no secret value can reach a manifest.
 */
export class ExpenseTrackerChart extends Chart {
  readonly environment: EnvironmentConfig;
  readonly web: Web;
  readonly postgres: Postgres;
  readonly redis: Redis;
  readonly config: AppConfigMap;

  constructor(scope: Construct, id: string, props: ExpenseTrackerChartProps = {}) {
    const env = props.environment ?? loadEnvironment('local');
    const instance = `expense-tracker-${env.name}`;
    super(scope, id, {
      ...props,
      namespace: env.namespace,
      labels: {
        ...props.labels,
        'app.kubernetes.io/part-of': PART_OF,
        'app.kubernetes.io/managed-by': MANAGED_BY,
        'app.kubernetes.io/instance': instance,
      },
    });
    this.environment = env;

    new RestrictedNamespace(this, 'Namespace', { name: env.namespace, level: 'restricted' });
    this.config = new AppConfigMap(this, 'Config', { environment: env });
    this.postgres = new Postgres(this, 'Postgres', {
      image: env.postgres.image,
      storage: env.postgres.storage,
      storageClassName: env.postgres.storageClassName,
      resources: env.postgres.resources,
      instance,
    });
    this.redis = new Redis(this, 'Redis', {
      image: env.redis.image,
      persistence: env.redis.persistence.enabled,
      storage: env.redis.persistence.storage,
      storageClassName: env.redis.persistence.storageClassName,
      resources: env.redis.resources,
      instance,
    });
    this.web = new Web(this, 'Web', {
      image: `${env.image.repository}:${env.image.tag}`,
      imagePullPolicy: env.image.pullPolicy as kplus.ImagePullPolicy,
      replicas: env.web.replicas,
      resources: env.web.resources,
      terminationGracePeriodSeconds: env.web.terminationGracePeriodSeconds,
      preStopSleepSeconds: env.web.preStopSleepSeconds,
      configMap: this.config.configMap,
      instance,
    });
    new WebIngress(this, 'Ingress', {
      service: this.web.service,
      host: env.ingress.host,
      className: env.ingress.className,
      tlsSecretName: env.ingress.tlsSecretName,
    });
    new NetworkPolicies(this, 'NetworkPolicies', {
      allow: [
        { name: 'allow-ingress-controller-to-web', to: this.web.selector, port: APP_PORT, fromNamespaces: [env.ingressControllerNamespace] },
        { name: 'allow-web-to-postgres', to: this.postgres.selector, port: Postgres.PORT, fromPods: this.web.selector },
        { name: 'allow-web-to-redis', to: this.redis.selector, port: Redis.PORT, fromPods: this.web.selector },
      ],
    });
  }
}
