/**
 * Pulumi dynamic providers for the IBM Cloud resources the `ibm` stack needs:
 * `IksCluster` (an IKS VPC cluster, or an existing one) and `IcrNamespace`.
 *
 * No IBM Cloud provider is published on npm (the Pulumi registry's `ibm` package is a
 * Terraform bridge generated locally with `pulumi package add terraform-provider ibm-cloud/ibm`),
 * so these talk to IBM's REST APIs directly (see `iks-operations.ts`).
 *
 * Dynamic providers are serialized into the stack state and run later in a separate Node.js
 * process. The provider objects below therefore capture only a string (the URL of
 * `iks-operations`) and import the implementation lazily; the `pulumi` process and the
 * dynamic-provider process both load TypeScript through `--import tsx` (set by
 * `scripts/pulumi.ts` in NODE_OPTIONS).
 */
import * as pulumi from '@pulumi/pulumi';
import type * as ops from './iks-operations.js';

const OPERATIONS_URL: string = new URL(`./iks-operations${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url).href;

/** Inputs of {@link IksCluster}; see `IksClusterArgs` for units and defaults. */
export interface IksClusterInputs {
  name: pulumi.Input<string>;
  existing?: pulumi.Input<boolean>;
  vpcId?: pulumi.Input<string>;
  flavor?: pulumi.Input<string>;
  workerCount?: pulumi.Input<number>;
  zones?: pulumi.Input<pulumi.Input<ops.IksZone>[]>;
  kubeVersion?: pulumi.Input<string>;
  resourceGroupId?: pulumi.Input<string>;
  /** IBM Cloud API key; pass a Pulumi secret. */
  apiKey: pulumi.Input<string>;
  endpoints?: pulumi.Input<Partial<ops.IksClusterArgs['endpoints']>>;
  readyTimeoutSeconds?: pulumi.Input<number>;
  pollIntervalSeconds?: pulumi.Input<number>;
}

/** The dynamic provider of {@link IksCluster}. Exported for contract tests. */
export const iksClusterProvider: pulumi.dynamic.ResourceProvider = {
  async check(olds: ops.IksClusterArgs, news: ops.IksClusterArgs) {
    const { validateClusterArgs } = (await import(OPERATIONS_URL)) as typeof ops;
    try {
      validateClusterArgs(news);
      return { inputs: news };
    } catch (error) {
      const [property = 'name', reason = String(error)] = /^IksCluster\.([a-zA-Z]+)[^:]*: (.*)$/.exec((error as Error).message)?.slice(1) ?? [];
      return { inputs: news, failures: [{ property, reason }] };
    }
  },
  async diff(_id: string, olds: ops.IksClusterArgs & ops.IksClusterState, news: ops.IksClusterArgs) {
    const { changedFields, IKS_REPLACE_FIELDS } = (await import(OPERATIONS_URL)) as typeof ops;
    const replaces = changedFields<ops.IksClusterArgs>(olds, news, IKS_REPLACE_FIELDS);
    const soft = changedFields<ops.IksClusterArgs>(olds, news, ['endpoints', 'readyTimeoutSeconds', 'pollIntervalSeconds']);
    return { changes: replaces.length + soft.length > 0, replaces, deleteBeforeReplace: true };
  },
  async create(inputs: ops.IksClusterArgs) {
    const { createCluster } = (await import(OPERATIONS_URL)) as typeof ops;
    const state = await createCluster(inputs, (m) => console.error(m));
    return { id: state.clusterId, outs: { ...inputs, ...state } };
  },
  async read(id: string, props: ops.IksClusterArgs & ops.IksClusterState) {
    const { readCluster } = (await import(OPERATIONS_URL)) as typeof ops;
    const state = await readCluster(props, id);
    return state ? { id, props: { ...props, ...state } } : { id: '', props: {} };
  },
  async update(_id: string, olds: ops.IksClusterArgs & ops.IksClusterState, news: ops.IksClusterArgs) {
    // Only endpoints/timeouts can change in place (everything else replaces): keep the outputs.
    return { outs: { ...olds, ...news } };
  },
  async delete(id: string, props: ops.IksClusterArgs) {
    const { deleteCluster } = (await import(OPERATIONS_URL)) as typeof ops;
    await deleteCluster(props, id);
  },
};

/**
 * An IKS VPC cluster, created with `vpc-gen2` and one default worker pool, or adopted with
 * `existing: true`. `kubeconfig` is an admin kubeconfig and always a Pulumi secret.
 */
export class IksCluster extends pulumi.dynamic.Resource {
  declare readonly clusterId: pulumi.Output<string>;
  declare readonly state: pulumi.Output<string>;
  declare readonly masterUrl: pulumi.Output<string>;
  declare readonly ingressHostname: pulumi.Output<string>;
  declare readonly kubeconfig: pulumi.Output<string>;

  constructor(name: string, args: IksClusterInputs, opts?: pulumi.CustomResourceOptions) {
    super(
      iksClusterProvider,
      name,
      { ...args, apiKey: pulumi.secret(args.apiKey), clusterId: undefined, state: undefined, masterUrl: undefined, ingressHostname: undefined, kubeconfig: undefined },
      { ...opts, additionalSecretOutputs: ['kubeconfig', 'apiKey'] },
      'expense',
      'IksCluster',
    );
  }
}

/** Inputs of {@link IcrNamespace}. */
export interface IcrNamespaceInputs {
  name: pulumi.Input<string>;
  accountId: pulumi.Input<string>;
  resourceGroupId?: pulumi.Input<string>;
  apiKey: pulumi.Input<string>;
  endpoints?: pulumi.Input<Partial<ops.IcrNamespaceArgs['endpoints']>>;
}

/** The dynamic provider of {@link IcrNamespace}. Exported for contract tests. */
export const icrNamespaceProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: ops.IcrNamespaceArgs, news: ops.IcrNamespaceArgs) {
    const { validateNamespaceArgs } = (await import(OPERATIONS_URL)) as typeof ops;
    try {
      validateNamespaceArgs(news);
      return { inputs: news };
    } catch (error) {
      const [property = 'name', reason = String(error)] = /^IcrNamespace\.([a-zA-Z]+): (.*)$/.exec((error as Error).message)?.slice(1) ?? [];
      return { inputs: news, failures: [{ property, reason }] };
    }
  },
  async diff(_id: string, olds: ops.IcrNamespaceArgs, news: ops.IcrNamespaceArgs) {
    const { changedFields } = (await import(OPERATIONS_URL)) as typeof ops;
    const replaces = changedFields<ops.IcrNamespaceArgs>(olds, news, ['name', 'accountId', 'resourceGroupId']);
    return { changes: replaces.length > 0 || changedFields<ops.IcrNamespaceArgs>(olds, news, ['endpoints']).length > 0, replaces, deleteBeforeReplace: true };
  },
  async create(inputs: ops.IcrNamespaceArgs) {
    const { createNamespace } = (await import(OPERATIONS_URL)) as typeof ops;
    const out = await createNamespace(inputs);
    return { id: `${out.registry}/${out.name}`, outs: { ...inputs, registry: out.registry } };
  },
  async read(id: string, props: ops.IcrNamespaceArgs) {
    const { namespaceExists } = (await import(OPERATIONS_URL)) as typeof ops;
    return (await namespaceExists(props)) ? { id, props } : { id: '', props: {} };
  },
  async update(_id: string, olds: ops.IcrNamespaceArgs, news: ops.IcrNamespaceArgs) {
    return { outs: { ...olds, ...news } };
  },
  async delete(_id: string, props: ops.IcrNamespaceArgs) {
    const { deleteNamespace } = (await import(OPERATIONS_URL)) as typeof ops;
    await deleteNamespace(props);
  },
};

/** An IBM Container Registry namespace; `registry` is the registry host (e.g. `us.icr.io`). */
export class IcrNamespace extends pulumi.dynamic.Resource {
  declare readonly registry: pulumi.Output<string>;

  constructor(name: string, args: IcrNamespaceInputs, opts?: pulumi.CustomResourceOptions) {
    super(icrNamespaceProvider, name, { ...args, apiKey: pulumi.secret(args.apiKey), registry: undefined }, { ...opts, additionalSecretOutputs: ['apiKey'] }, 'expense', 'IcrNamespace');
  }
}
