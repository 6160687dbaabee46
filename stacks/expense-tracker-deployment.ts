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
 * - ordering is explicit: everything namespaced depends on its Namespace, each workload also on
 *   exactly the Secrets and ConfigMaps its pods read (ConfigGroup would infer only the Namespace),
 *   and nothing else waits, so unrelated objects are created in parallel;
 * - unit tests with mocks see each object's inputs (a ConfigGroup's children are created by
 *   the provider's Construct and are invisible to mocks).
 * A kind without a typed class in @pulumi/kubernetes is an error naming the object.
 *
 * Await logic: Deployments, StatefulSets and Ingresses keep Pulumi's readiness waits. ClusterIP and
 * NodePort Services get `pulumi.com/skipAwait: "true"` (in Pulumi's inputs only, not in the chart):
 * the provider's Service await re-arms a fixed 10 s "settle" timer on every Endpoints change, so it
 * added 10 s to every deploy while telling nothing the workloads' own readiness waits do not (the
 * synth validator already proves each Service selects a pod template). LoadBalancer Services keep
 * the wait for their external address.
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
import { podTemplatePath } from '../charts/validate.js';

/** Pulumi's per-resource opt-out of its await logic (pulumi-kubernetes `metadata.AnnotationSkipAwait`). */
export const SKIP_AWAIT_ANNOTATION = 'pulumi.com/skipAwait';

/** Names of the ConfigMaps and Secrets a workload's pods read (volumes, env, envFrom, image pull Secrets). */
export function podReferences(obj: KubeObject): { configMaps: Set<string>; secrets: Set<string> } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const path = obj.kind === 'Pod' ? [] : podTemplatePath(obj.kind);
  let pod: any = obj;
  for (const key of path ?? []) pod = pod?.[key];
  const spec = path === undefined ? undefined : pod?.spec;
  if (!spec) return { configMaps, secrets };
  for (const v of spec.volumes ?? []) {
    if (v.configMap?.name) configMaps.add(v.configMap.name);
    if (v.secret?.secretName) secrets.add(v.secret.secretName);
    for (const source of v.projected?.sources ?? []) {
      if (source.configMap?.name) configMaps.add(source.configMap.name);
      if (source.secret?.name) secrets.add(source.secret.name);
    }
  }
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef?.name) configMaps.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
    }
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef?.name) configMaps.add(e.configMapRef.name);
      if (e.secretRef?.name) secrets.add(e.secretRef.name);
    }
  }
  for (const s of spec.imagePullSecrets ?? []) if (s.name) secrets.add(s.name);
  return { configMaps, secrets };
}

/** The object as Pulumi's inputs: the chart's object, plus skipAwait on non-LoadBalancer Services. */
export function pulumiInputs(obj: KubeObject): KubeObject {
  if (obj.kind !== 'Service' || (obj.spec as { type?: string } | undefined)?.type === 'LoadBalancer') return obj;
  return { ...obj, metadata: { ...obj.metadata, annotations: { ...obj.metadata.annotations, [SKIP_AWAIT_ANNOTATION]: 'true' } } };
}

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
  /** Patroni's superuser and replication passwords (`postgres.mode: ha`); generated (32 alphanumerics) when undefined. */
  patroniSuperuserPassword?: pulumi.Input<string>;
  patroniReplicationPassword?: pulumi.Input<string>;
  /**
   * HMAC keys of the backup repository; required when the environment has `postgres.backup.enabled` with `repository: s3`
   * (the object store issues them: nothing to generate).
   */
  backupS3AccessKey?: pulumi.Input<string>;
  backupS3SecretKey?: pulumi.Input<string>;
}

/**
 * `@pulumi/kubernetes` resource class for an apiVersion/kind, e.g. `apps/v1` `Deployment` →
 * `k8s.apps.v1.Deployment`; objects of an API group the SDK has no module for (custom resources
 * such as `monitoring.coreos.com/v1` ServiceMonitor) → `k8s.apiextensions.CustomResource`.
 */
export function resourceClassFor(apiVersion: string, kind: string): new (name: string, args: any, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion];
  const module = group.split('.')[0];
  const sdk = k8s as unknown as Record<string, Record<string, Record<string, unknown>> | undefined>;
  if (group.includes('.') && !group.endsWith('.k8s.io') && sdk[module] === undefined) return k8s.apiextensions.CustomResource;
  const ctor = sdk[module]?.[version]?.[kind];
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
    const needed = new Set(args.synthesis.secrets.flatMap((spec) => Object.values(spec.keys).flatMap((k) => ('secret' in k ? [k.secret] : []))));
    // Only the values some Secret uses: no random password is created for a Secret the environment does not have.
    const value = (name: SecretValueName, given: pulumi.Input<string> | undefined, make: () => pulumi.Input<string>): pulumi.Input<string> =>
      given ?? (needed.has(name) ? make() : '');
    const required = (name: SecretValueName, given: pulumi.Input<string> | undefined) =>
      value(name, given, () => {
        throw new Error(`ExpenseTrackerDeployment: ${name} is required: environment "${env.name}" has postgres.backup.enabled with repository s3`);
      });
    const values: Record<SecretValueName, pulumi.Input<string>> = {
      postgresPassword: value('postgresPassword', args.postgresPassword, () => password('postgres-password', 32)),
      redisPassword: value('redisPassword', args.redisPassword, () => password('redis-password', 32)),
      sessionSecret: value('sessionSecret', args.sessionSecret, () => password('session-secret', 48)),
      sendgridApiKey: args.sendgridApiKey,
      patroniSuperuserPassword: value('patroniSuperuserPassword', args.patroniSuperuserPassword, () => password('patroni-superuser-password', 32)),
      patroniReplicationPassword: value('patroniReplicationPassword', args.patroniReplicationPassword, () => password('patroni-replication-password', 32)),
      backupS3AccessKey: required('backupS3AccessKey', args.backupS3AccessKey),
      backupS3SecretKey: required('backupS3SecretKey', args.backupS3SecretKey),
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

    // ConfigMaps first, so that workloads can depend on the ones they read.
    const configMaps = new Map<string, pulumi.CustomResource>();
    const key = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;
    const register = (obj: KubeObject) => {
      const dependsOn: pulumi.Resource[] = [];
      const ns = namespaceOf(obj.metadata.namespace);
      if (ns) dependsOn.push(ns);
      const refs = podReferences(obj);
      for (const name of refs.configMaps) dependsOn.push(...[configMaps.get(key(obj.metadata.namespace, name))].filter((r) => r !== undefined));
      for (const name of refs.secrets) {
        const secret = secrets[name];
        if (secret && args.synthesis.secrets.some((s) => s.name === name && s.namespace === obj.metadata.namespace)) dependsOn.push(secret);
      }
      const resource = new (resourceClassFor(obj.apiVersion, obj.kind))(resourceNameFor(obj), pulumiInputs(obj), { ...childOpts, dependsOn });
      byObject.set(obj, resource);
      if (obj.kind === 'ConfigMap') configMaps.set(key(obj.metadata.namespace, obj.metadata.name), resource);
    };
    for (const obj of objects) if (obj.kind === 'ConfigMap') register(obj);
    for (const obj of objects) if (!byObject.has(obj)) register(obj);
    for (const obj of objects) resources.push(byObject.get(obj)!);
    this.resources = resources;
    this.url = pulumi.output(`${env.ingress.tlsSecretName ? 'https' : 'http'}://${env.ingress.host}/`);
    this.registerOutputs({ url: this.url, objectCount: objects.length });
  }
}
