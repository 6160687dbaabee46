/**
 * `expense:index:MinikubeTarget` — a Kubernetes provider on a minikube cluster.
 *
 * With `start: true` a `MinikubeCluster` dynamic resource runs `minikube start` (CPUs,
 * memory, `--insecure-registry` for the LocalRegistry) and `minikube addons enable ingress`,
 * and `minikube stop`/`delete` on destroy. With `start: false` (default) the cluster must
 * already run and only the kubeconfig context is used.
 *
 * Registry access (see docs/pulumi.md): LocalRegistry publishes its port on 127.0.0.1 only,
 * which the minikube node cannot reach. Its container therefore also joins the docker
 * network minikube's docker driver creates (named after the profile), where the node
 * resolves it as `<registry container>:5000`; that name is passed to
 * `--insecure-registry`. Pushes go to `localhost:5000/…`, pulls to `expense-registry:5000/…`:
 * the same registry, so the same image.
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type * as ops from './minikube/minikube-operations.js';

const OPERATIONS_URL: string = new URL(`./minikube/minikube-operations${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url).href;

/** Dynamic provider running the minikube CLI (exported for tests). */
export const minikubeClusterProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: ops.MinikubeClusterArgs) {
    const { startMinikube } = (await import(OPERATIONS_URL)) as typeof ops;
    const out = await startMinikube(inputs);
    return { id: out.profile, outs: { ...inputs, ip: out.ip } };
  },
  async read(id: string, props: ops.MinikubeClusterArgs) {
    const { minikubeRunning } = (await import(OPERATIONS_URL)) as typeof ops;
    return (await minikubeRunning(id)) ? { id, props } : { id: '', props: {} };
  },
  async diff(_id: string, olds: ops.MinikubeClusterArgs, news: ops.MinikubeClusterArgs) {
    const replaces = (['profile', 'cpus', 'memoryMiB', 'insecureRegistries', 'addons'] as const).filter(
      (k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]),
    );
    return { changes: replaces.length > 0 || olds.deleteOnDestroy !== news.deleteOnDestroy, replaces, deleteBeforeReplace: true };
  },
  async update(_id: string, olds: ops.MinikubeClusterArgs, news: ops.MinikubeClusterArgs) {
    return { outs: { ...olds, ...news } };
  },
  async delete(_id: string, props: ops.MinikubeClusterArgs) {
    const { stopMinikube } = (await import(OPERATIONS_URL)) as typeof ops;
    await stopMinikube(props);
  },
};

/** A minikube profile started (and stopped/deleted) by the stack. */
export class MinikubeCluster extends pulumi.dynamic.Resource {
  declare readonly ip: pulumi.Output<string>;

  constructor(name: string, args: ops.MinikubeClusterArgs, opts?: pulumi.CustomResourceOptions) {
    super(minikubeClusterProvider, name, { ...args, ip: undefined }, opts, 'expense', 'MinikubeCluster');
  }
}

/** Arguments of {@link MinikubeTarget}. */
export interface MinikubeTargetArgs {
  /** kubeconfig context (minikube names it after the profile). @default "minikube" */
  context?: string;
  /** Run `minikube start` from the stack. @default false */
  start?: boolean;
  /** vCPUs when starting. @default 4 */
  cpus?: number;
  /** Memory in MiB when starting. @default 8192 */
  memoryMiB?: number;
  /** Enable the ingress addon when starting. @default true */
  enableIngress?: boolean;
  /** `host:port` registries the node may pull from over HTTP. @default [] */
  insecureRegistries?: string[];
  /** Delete the profile on destroy instead of stopping it. @default false */
  deleteOnDestroy?: boolean;
}

/** A kubernetes Provider for a minikube cluster (optionally started by the stack). */
export class MinikubeTarget extends pulumi.ComponentResource {
  readonly provider: k8s.Provider;
  /** The started cluster, when `start` is true. */
  readonly cluster: MinikubeCluster | undefined;
  readonly context: string;

  constructor(name: string, args: MinikubeTargetArgs, opts?: pulumi.ComponentResourceOptions) {
    super('expense:index:MinikubeTarget', name, {}, opts);
    this.context = args.context ?? 'minikube';
    if (args.start) {
      const inputs: ops.MinikubeClusterArgs = {
        profile: this.context,
        cpus: args.cpus ?? 4,
        memoryMiB: args.memoryMiB ?? 8192,
        insecureRegistries: args.insecureRegistries ?? [],
        addons: args.enableIngress === false ? [] : ['ingress'],
        deleteOnDestroy: args.deleteOnDestroy ?? false,
      };
      this.cluster = new MinikubeCluster(`${name}-cluster`, inputs, { parent: this });
    }
    this.provider = new k8s.Provider(
      `${name}-provider`,
      { context: this.context, enableServerSideApply: true },
      { parent: this, dependsOn: this.cluster ? [this.cluster] : [] },
    );
    this.registerOutputs({ context: this.context });
  }
}
