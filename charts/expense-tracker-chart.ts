import { Chart, type ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { APP_PORT } from '@expense-tracker/model/app-contract';
import { AppConfigMap } from './config-map.js';
import { type EnvironmentConfig, loadEnvironment } from '@expense-tracker/model/environment';
import { HaproxyLoadBalancer } from './haproxy-load-balancer.js';
import { WebIngress } from './ingress.js';
import { formatImageReference } from '@expense-tracker/model/images';
import { instanceName, MANAGED_BY, PART_OF, recommendedLabels } from '@expense-tracker/model/naming';
import { RestrictedNamespace } from './namespace.js';
import { type AllowIngressRule, NetworkPolicies } from './network-policy.js';
import { HAPROXY } from '@expense-tracker/model/components';
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
 * with its Services, Redis, HAProxy (Deployment, ConfigMap, Services, headless web Service)
 * when enabled, the Ingress and the NetworkPolicies.
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
  /** HAProxy in front of the web pods; undefined when `haproxy.enabled` is false. */
  readonly haproxy?: HaproxyLoadBalancer;

  constructor(scope: Construct, id: string, props: ExpenseTrackerChartProps = {}) {
    const env = props.environment ?? loadEnvironment('local');
    const instance = instanceName(env.name);
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
      image: formatImageReference(env.postgres.image),
      imagePullPolicy: env.postgres.image.pullPolicy as kplus.ImagePullPolicy,
      storage: env.postgres.storage,
      storageClassName: env.postgres.storageClassName,
      resources: env.postgres.resources,
      instance,
    });
    this.redis = new Redis(this, 'Redis', {
      image: formatImageReference(env.redis.image),
      imagePullPolicy: env.redis.image.pullPolicy as kplus.ImagePullPolicy,
      persistence: env.redis.persistence.enabled,
      storage: env.redis.persistence.storage,
      storageClassName: env.redis.persistence.storageClassName,
      resources: env.redis.resources,
      instance,
    });
    this.web = new Web(this, 'Web', {
      image: formatImageReference(env.image),
      imagePullPolicy: env.image.pullPolicy as kplus.ImagePullPolicy,
      replicas: env.web.replicas,
      resources: env.web.resources,
      terminationGracePeriodSeconds: env.web.terminationGracePeriodSeconds,
      preStopSleepSeconds: env.web.preStopSleepSeconds,
      configMap: this.config.configMap,
      instance,
    });

    // Traffic path per environment (model/environments/, docs/haproxy.md):
    // - haproxy disabled:                 Ingress → Service expense-web → web pods
    // - haproxy behind-ingress (local, ibm): Ingress → Service haproxy → HAProxy → web pods
    //   (through the headless Service expense-web-headless); web pods accept only HAProxy.
    // - haproxy replaces-ingress:         LoadBalancer Service haproxy → HAProxy → web pods; no Ingress.
    const h = env.haproxy;
    const rules: AllowIngressRule[] = [];
    if (h.enabled) {
      this.haproxy = new HaproxyLoadBalancer(this, 'Haproxy', {
        environment: env,
        webSelector: this.web.selector,
        webLabels: recommendedLabels(this.web.identity),
        instance,
      });
      if (h.placement === 'behind-ingress') {
        rules.push({ name: 'allow-ingress-controller-to-haproxy', to: this.haproxy.selector, port: HAPROXY.httpPort, fromNamespaces: [env.ingressControllerNamespace] });
      } else {
        // The LoadBalancer forwards client traffic from anywhere to the HAProxy pods.
        new k8s.KubeNetworkPolicy(this, 'AllowAnyToHaproxy', {
          metadata: { name: 'allow-any-to-haproxy' },
          spec: {
            podSelector: { matchLabels: this.haproxy.selector },
            policyTypes: ['Ingress'],
            ingress: [{ ports: [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(HAPROXY.httpPort) }] }],
          },
        });
      }
      rules.push({ name: 'allow-haproxy-to-web', to: this.web.selector, port: APP_PORT, fromPods: this.haproxy.selector });
      if (h.metricsScrapeNamespaces.length > 0) {
        rules.push({ name: 'allow-metrics-scrape-to-haproxy', to: this.haproxy.selector, port: HAPROXY.statsPort, fromNamespaces: h.metricsScrapeNamespaces });
      }
    } else {
      rules.push({ name: 'allow-ingress-controller-to-web', to: this.web.selector, port: APP_PORT, fromNamespaces: [env.ingressControllerNamespace] });
    }
    if (!h.enabled || h.placement === 'behind-ingress') {
      new WebIngress(this, 'Ingress', {
        service: this.haproxy?.service ?? this.web.service,
        host: env.ingress.host,
        className: env.ingress.className,
        tlsSecretName: env.ingress.tlsSecretName,
      });
    }
    new NetworkPolicies(this, 'NetworkPolicies', {
      allow: [
        ...rules,
        { name: 'allow-web-to-postgres', to: this.postgres.selector, port: Postgres.PORT, fromPods: this.web.selector },
        { name: 'allow-web-to-redis', to: this.redis.selector, port: Redis.PORT, fromPods: this.web.selector },
      ],
    });
  }
}
