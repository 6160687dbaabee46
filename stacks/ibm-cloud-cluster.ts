/**
 * `expense:index:IbmCloudCluster` — an IBM Cloud Kubernetes Service VPC cluster (created, or
 * an existing one adopted by name, or a kubeconfig you bring) and an IBM Container Registry
 * namespace, plus a kubernetes Provider on the cluster.
 *
 * The IKS and ICR resources are Pulumi dynamic providers over IBM's REST APIs
 * (`stacks/ibm/`). Users with network access to the Pulumi registry can use the Terraform
 * bridge instead: `pulumi package add terraform-provider ibm-cloud/ibm` (docs/pulumi.md).
 */
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { IbmEndpoints } from './ibm/ibm-api.js';
import { IcrNamespace, IksCluster } from './ibm/providers.js';
import type { IksClusterArgs } from './ibm/iks-operations.js';

/** Arguments of {@link IbmCloudCluster}. */
export interface IbmCloudClusterArgs {
  /** IBM Cloud API key (Pulumi secret). */
  apiKey: pulumi.Input<string>;
  /** The IKS cluster to create or adopt (see {@link IksClusterArgs}). */
  cluster: Omit<IksClusterArgs, 'apiKey' | 'endpoints' | 'pollIntervalSeconds'>;
  /** Bring your own cluster by kubeconfig (path or YAML): no IKS API call at all. */
  kubeconfig?: pulumi.Input<string>;
  /** kubeconfig context with `kubeconfig`. */
  context?: string;
  registry: {
    /** ICR namespace. */
    namespace: string;
    /** IBM Cloud account id (ICR `Account` header). */
    accountId: string;
  };
  endpoints?: Partial<IbmEndpoints>;
}

/** An IKS cluster (or your own), an ICR namespace and a kubernetes Provider on the cluster. */
export class IbmCloudCluster extends pulumi.ComponentResource {
  readonly cluster: IksCluster | undefined;
  readonly namespace: IcrNamespace;
  readonly provider: k8s.Provider;
  /** Registry host of the namespace, e.g. `us.icr.io`. */
  readonly registryServer: pulumi.Output<string>;
  /** `<registry>/<namespace>` — prefix of the app image repository. */
  readonly repositoryPrefix: pulumi.Output<string>;

  constructor(name: string, args: IbmCloudClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('expense:index:IbmCloudCluster', name, {}, opts);
    const apiKey = pulumi.secret(args.apiKey);
    this.namespace = new IcrNamespace(`${name}-icr`, { name: args.registry.namespace, accountId: args.registry.accountId, apiKey, endpoints: args.endpoints }, { parent: this });
    this.registryServer = this.namespace.registry;
    this.repositoryPrefix = pulumi.interpolate`${this.namespace.registry}/${args.registry.namespace}`;

    let kubeconfig: pulumi.Input<string>;
    if (args.kubeconfig !== undefined) {
      this.cluster = undefined;
      kubeconfig = args.kubeconfig;
    } else {
      this.cluster = new IksCluster(`${name}-iks`, { ...args.cluster, apiKey, endpoints: args.endpoints }, { parent: this });
      kubeconfig = this.cluster.kubeconfig;
    }
    this.provider = new k8s.Provider(
      `${name}-provider`,
      { kubeconfig: pulumi.secret(kubeconfig), ...(args.context ? { context: args.context } : {}), enableServerSideApply: true },
      { parent: this },
    );
    this.registerOutputs({ registryServer: this.registryServer });
  }
}
