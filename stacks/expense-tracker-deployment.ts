/**
 * `expense:index:ExpenseTrackerDeployment` — deploys the cdk8s chart of one environment
 * through Pulumi, plus the Secrets the chart leaves out.
 *
 * It reads the environment's `Synthesis` (`charts/synthesize.ts`: the same objects `npm run synth`
 * writes, in memory, no cdk8s CLI) and each object becomes one typed @pulumi/kubernetes resource (e.g.
 * `kubernetes:apps/v1:Deployment`), rather than one `k8s.yaml.v2.ConfigGroup` with `objs`.
 * Why one resource per object:
 * - every object is a first-class resource of this component: `pulumi preview` diffs,
 *   state, `--target` and await logic (Deployment/StatefulSet readiness) are per object;
 * - the chart stays the single description: objects are passed through unchanged (same
 *   names, labels, specs) and resources are named `<namespace>/<name>` like ConfigGroup v2 does;
 * - ordering is explicit: everything namespaced depends on its Namespace, workloads also on
 *   the Secrets and ConfigMaps they read (ConfigGroup would infer only the Namespace);
 * - unit tests with mocks see each object's inputs (a ConfigGroup's children are created by
 *   the provider's Construct and are invisible to mocks).
 * A kind without a typed class in @pulumi/kubernetes is an error naming the object.
 *
 * Secrets (the synthesis' `secrets`: names, keys and labels as `npm run create-secrets` makes
 * them) are created from Pulumi secret config or @pulumi/random passwords; their `stringData` is
 * always a Pulumi secret, so no secret value is ever in git or in plaintext in the stack state.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { secretManifest, type SecretValueName } from '../charts/secrets.js';
import type { KubeObject, Synthesis } from '../charts/synthesize.js';

/** Kinds whose pods read Secrets/ConfigMaps: they wait for those to exist. */
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod']);

/** Arguments of {@link ExpenseTrackerDeployment}. */
export interface ExpenseTrackerDeploymentArgs {
  /** The environment's synthesis (`synthesize(environment)`): the objects to deploy and the Secrets they need. */
  synthesis: Synthesis;
  /** The cluster to deploy to. */
  provider: k8s.Provider;
  /** PostgreSQL password; generated (32 alphanumerics) when undefined. */
  postgresPassword?: pulumi.Input<string>;
  /** Redis `requirepass`; generated (32 alphanumerics) when undefined. */
  redisPassword?: pulumi.Input<string>;
  /** Session signing secret (≥ 32 characters); generated (48 characters) when undefined. */
  sessionSecret?: pulumi.Input<string>;
  /** SendGrid API key (required by the app). */
  sendgridApiKey: pulumi.Input<string>;
}

/** `@pulumi/kubernetes` resource class for an apiVersion/kind, e.g. `apps/v1` `Deployment` → `k8s.apps.v1.Deployment`. */
export function resourceClassFor(apiVersion: string, kind: string): new (name: string, args: any, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion];
  const module = group.split('.')[0];
  const ctor = (k8s as unknown as Record<string, Record<string, Record<string, unknown>> | undefined>)[module]?.[version]?.[kind];
  if (typeof ctor !== 'function') {
    throw new Error(`no @pulumi/kubernetes resource class for apiVersion "${apiVersion}" kind "${kind}"`);
  }
  return ctor as new (name: string, args: any, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource;
}

/** Pulumi resource name of an object: `<namespace>/<name>` or `<name>` for cluster-scoped objects. */
export function resourceNameFor(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

/** The synthesized chart deployed as Pulumi resources, plus its Secrets. */
export class ExpenseTrackerDeployment extends pulumi.ComponentResource {
  /** Exactly the chart's objects, in apply order (what was deployed, Secrets excluded). */
  readonly objects: readonly KubeObject[];
  /** One resource per chart object, same order as `objects`. */
  readonly resources: readonly pulumi.CustomResource[];
  /** The Secrets, keyed by Secret name. */
  readonly secrets: Readonly<Record<string, k8s.core.v1.Secret>>;
  /** Public URL of the app (Ingress host; https when a TLS Secret is configured). */
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: ExpenseTrackerDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super('expense:index:ExpenseTrackerDeployment', name, {}, opts);
    const env = args.synthesis.environment;
    const objects = args.synthesis.objects;
    this.objects = objects;
    const childOpts = { parent: this, provider: args.provider };

    const namespaces = new Map<string, pulumi.CustomResource>();
    const resources: pulumi.CustomResource[] = [];
    const byObject = new Map<KubeObject, pulumi.CustomResource>();
    for (const obj of objects.filter((o) => o.kind === 'Namespace')) {
      const resource = new (resourceClassFor(obj.apiVersion, obj.kind))(resourceNameFor(obj), obj, childOpts);
      namespaces.set(obj.metadata.name, resource);
      byObject.set(obj, resource);
    }
    const namespaceOf = (ns: string | undefined) => (ns ? namespaces.get(ns) : undefined);

    const password = (id: string, length: number) =>
      new random.RandomPassword(id, { length, special: false }, { parent: this }).result;
    const values: Record<SecretValueName, pulumi.Input<string>> = {
      postgresPassword: args.postgresPassword ?? password('postgres-password', 32),
      redisPassword: args.redisPassword ?? password('redis-password', 32),
      sessionSecret: args.sessionSecret ?? password('session-secret', 48),
      sendgridApiKey: args.sendgridApiKey,
    };
    const secrets: Record<string, k8s.core.v1.Secret> = {};
    for (const spec of args.synthesis.secrets) {
      const manifest = secretManifest(spec, values);
      secrets[spec.name] = new k8s.core.v1.Secret(
        `${spec.namespace}/${spec.name}`,
        { metadata: manifest.metadata, type: manifest.type, stringData: pulumi.secret(pulumi.output(manifest.stringData)) },
        { ...childOpts, dependsOn: [namespaceOf(spec.namespace)].filter((r): r is pulumi.CustomResource => r !== undefined) },
      );
    }
    this.secrets = secrets;

    const configMaps: pulumi.CustomResource[] = [];
    for (const obj of objects) {
      if (obj.kind === 'Namespace') {
        resources.push(byObject.get(obj)!);
        continue;
      }
      const dependsOn: pulumi.Resource[] = [];
      const ns = namespaceOf(obj.metadata.namespace);
      if (ns) dependsOn.push(ns);
      if (WORKLOAD_KINDS.has(obj.kind)) dependsOn.push(...Object.values(secrets), ...configMaps);
      const resource = new (resourceClassFor(obj.apiVersion, obj.kind))(resourceNameFor(obj), obj, { ...childOpts, dependsOn });
      if (obj.kind === 'ConfigMap') configMaps.push(resource);
      resources.push(resource);
    }
    this.resources = resources;
    this.url = pulumi.output(`${env.ingress.tlsSecretName ? 'https' : 'http'}://${env.ingress.host}/`);
    this.registerOutputs({ url: this.url, objectCount: objects.length });
  }
}
