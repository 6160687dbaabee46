/**
 * The Pulumi program of the `expense-tracker` project. What it builds comes from the stack's typed
 * settings, never from the stack's name: `expense-tracker:target` chooses where to deploy and
 * `expense-tracker:environment` which environment of model/ to synthesize.
 *
 * - `minikube`:   MinikubeTarget + LocalRegistry (build + push) + ExpenseTrackerDeployment;
 * - `iks`:        IbmCloudCluster (IKS + ICR, or your cluster) + image pushed to ICR +
 *                 ExpenseTrackerDeployment;
 * - `kubeconfig`: ExpenseTrackerDeployment on the kubeconfig/context it is given, image from config.
 *
 * The environment is loaded and synthesized once per run; the component deploys that synthesis.
 * Used by `stacks/index.ts` (the `main` of Pulumi.yaml, for the `pulumi` CLI) and by
 * `scripts/pulumi.ts` as an Automation API inline program.
 * @returns the stack outputs (`url`, `namespace`, `image`, `objectCount`, plus per-target extras).
 * @throws StackConfigError / ConfigError naming the config key or environment field.
 */
import * as docker from '@pulumi/docker';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { loadEnvironment, type EnvironmentConfig } from '@expense-tracker/model/environment';
import { formatImageReference } from '@expense-tracker/model/images';
import { synthesize } from '../charts/synthesize.js';
import { imageOverrides, parseImageSetting, PROJECT, readAppSecrets, readCommon, readKubeTarget, readObject, StackConfigError } from './config.js';
import { ExpenseTrackerDeployment } from './expense-tracker-deployment.js';
import { IbmCloudCluster } from './ibm-cloud-cluster.js';
import { IBM_DEFAULT_ENDPOINTS } from './ibm/ibm-api.js';
import { LocalRegistry } from './local-registry.js';
import { MinikubeTarget } from './minikube-target.js';

/** Where a stack deploys (`expense-tracker:target`). */
export const TARGETS = ['minikube', 'iks', 'kubeconfig'] as const;
export type Target = (typeof TARGETS)[number];

/** Stack outputs. */
export type StackOutputs = Record<string, pulumi.Input<unknown>>;

function sendgridKey(config: pulumi.Config, required: boolean): pulumi.Output<string> {
  const key = readAppSecrets(config).sendgridApiKey;
  if (key) return key;
  if (required) throw new StackConfigError(`${PROJECT}:sendgridApiKey: required (pulumi config set --secret sendgridApiKey <key>)`);
  pulumi.log.warn(`${PROJECT}:sendgridApiKey is not set: the app starts, but sending e-mail fails`);
  return pulumi.secret('SG.not-configured');
}

function deployment(env: EnvironmentConfig, provider: k8s.Provider, config: pulumi.Config, sendgridApiKey: pulumi.Output<string>, opts?: pulumi.ComponentResourceOptions): ExpenseTrackerDeployment {
  const secrets = readAppSecrets(config);
  if (env.postgres.mode === 'ha' && env.postgres.backup.enabled && env.postgres.backup.repository === 's3') {
    for (const key of ['backupS3AccessKey', 'backupS3SecretKey'] as const) {
      if (!secrets[key]) throw new StackConfigError(`${PROJECT}:${key}: required by postgres.backup.enabled with repository s3 (pulumi config set --secret ${key} <HMAC key of the bucket>)`);
    }
  }
  return new ExpenseTrackerDeployment(
    'expense-tracker',
    {
      synthesis: synthesize(env),
      provider,
      postgresPassword: secrets.postgresPassword,
      redisPassword: secrets.redisPassword,
      sessionSecret: secrets.sessionSecret,
      sendgridApiKey,
      patroniSuperuserPassword: secrets.patroniSuperuserPassword,
      patroniReplicationPassword: secrets.patroniReplicationPassword,
      backupS3AccessKey: secrets.backupS3AccessKey,
      backupS3SecretKey: secrets.backupS3SecretKey,
    },
    opts,
  );
}

function outputs(app: ExpenseTrackerDeployment, env: EnvironmentConfig, extra: StackOutputs = {}): StackOutputs {
  return { url: app.url, namespace: env.namespace, image: formatImageReference(env.image), objectCount: app.objects.length, ...extra };
}

const minikubeSchema = z.strictObject({
  context: z.string().min(1).default('minikube'),
  start: z.boolean().default(false),
  cpus: z.number().int().min(2).default(4),
  memoryMiB: z.number().int().min(2048).default(8192),
  enableIngress: z.boolean().default(true),
  deleteOnDestroy: z.boolean().default(false),
});
const registrySchema = z.strictObject({
  port: z.number().int().min(1024).max(65535).default(5000),
  containerName: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a DNS label').default('expense-registry'),
  /** Docker networks the registry joins; default: the minikube profile's network. */
  networks: z.array(z.string().min(1)).optional(),
});

/** `minikube`: minikube + loopback registry (the app image built and pushed there) + the environment. */
export function minikubeStack(config = new pulumi.Config()): StackOutputs {
  const common = readCommon(config);
  const minikube = readObject(config, 'minikube', minikubeSchema);
  const registryConfig = readObject(config, 'registry', registrySchema);
  const tag = common.image ? parseImageSetting(common.image).tag : undefined;
  // The node pulls from the registry's name on minikube's docker network.
  const repository = LocalRegistry.networkRepositoryOf(registryConfig.containerName);
  const env = loadEnvironment(common.environment, { set: [...common.set, `image.repository=${repository}`], ...(tag ? { imageTag: tag } : {}) });
  const sendgrid = sendgridKey(config, false);

  const target = new MinikubeTarget('minikube', { ...minikube, insecureRegistries: [`${registryConfig.containerName}:5000`] });
  const registry = new LocalRegistry(
    'registry',
    { port: registryConfig.port, containerName: registryConfig.containerName, networks: registryConfig.networks ?? [minikube.context], imageTag: env.image.tag },
    { dependsOn: target.cluster ? [target.cluster] : [] },
  );
  const app = deployment(env, target.provider, config, sendgrid, { dependsOn: [registry] });
  return outputs(app, env, { imageRef: registry.imageRef, kubeContext: target.context });
}

const ibmSchema = z.strictObject({
  cluster: z.strictObject({
    name: z.string().min(1),
    existing: z.boolean().default(false),
    vpcId: z.string().optional(),
    flavor: z.string().optional(),
    workerCount: z.number().int().min(1).optional(),
    zones: z.array(z.strictObject({ id: z.string().min(1), subnetId: z.string().min(1) })).optional(),
    kubeVersion: z.string().optional(),
    resourceGroupId: z.string().optional(),
    readyTimeoutSeconds: z.number().int().min(60).optional(),
  }),
  registry: z.strictObject({ namespace: z.string().min(1), accountId: z.string().min(1) }),
  endpoints: z.strictObject({ iam: z.url().optional(), containers: z.url().optional(), registry: z.url().optional() }).optional(),
});

/** `iks`: IBM Cloud Kubernetes Service (or your cluster) + IBM Container Registry + the environment. */
export function iksStack(config = new pulumi.Config()): StackOutputs {
  const common = readCommon(config);
  const ibm = readObject(config, 'ibm', ibmSchema);
  const apiKey = config.getSecret('ibmApiKey');
  if (!apiKey) throw new StackConfigError(`${PROJECT}:ibmApiKey: required (pulumi config set --secret ibmApiKey <IBM Cloud API key>)`);
  const sendgrid = sendgridKey(config, true);
  const endpoints = { ...IBM_DEFAULT_ENDPOINTS, ...ibm.endpoints };
  const registryHost = new URL(endpoints.registry).host;
  const repository = `${registryHost}/${ibm.registry.namespace}/expense-tracker`;
  const tag = common.image ? parseImageSetting(common.image).tag : undefined;
  const env = loadEnvironment(common.environment, { set: [...common.set, `image.repository=${repository}`], ...(tag ? { imageTag: tag } : {}) });

  const cluster = new IbmCloudCluster('ibm', {
    apiKey,
    cluster: ibm.cluster,
    kubeconfig: readKubeTarget(config).kubeconfig,
    context: readKubeTarget(config).context,
    registry: ibm.registry,
    endpoints,
  });
  const appDirectory = fileURLToPath(new URL('../app', import.meta.url));
  const image = new docker.Image(
    'app-image',
    {
      imageName: formatImageReference({ repository: env.image.repository, tag: env.image.tag }),
      build: { context: appDirectory, dockerfile: `${appDirectory}/Dockerfile`, platform: 'linux/amd64' },
      // ICR accepts the literal user "iamapikey" with an API key as password.
      registry: { server: cluster.registryServer, username: 'iamapikey', password: apiKey },
    },
    { dependsOn: [cluster.namespace] },
  );
  const app = deployment(env, cluster.provider, config, sendgrid, { dependsOn: [image] });
  return outputs(app, env, { imageRef: image.repoDigest, clusterId: cluster.cluster?.clusterId ?? 'bring-your-own', ingressHostname: cluster.cluster?.ingressHostname ?? '' });
}

/** `kubeconfig`: deploy to whatever cluster the kubeconfig/context points at; image from config. */
export function kubeconfigStack(config = new pulumi.Config()): StackOutputs {
  const common = readCommon(config);
  if (!common.image) throw new StackConfigError(`${PROJECT}:image: required for target kubeconfig ("repository:tag" the cluster can pull)`);
  const ref = parseImageSetting(common.image);
  const env = loadEnvironment(common.environment, { set: [...common.set, ...imageOverrides(ref)], imageTag: ref.tag });
  const sendgrid = sendgridKey(config, false);
  const target = readKubeTarget(config);
  const provider = new k8s.Provider('ci', {
    ...(target.kubeconfig ? { kubeconfig: target.kubeconfig } : {}),
    ...(target.context ? { context: target.context } : {}),
    enableServerSideApply: true,
  });
  const app = deployment(env, provider, config, sendgrid);
  return outputs(app, env);
}

/** Runs the program for the stack's `target`. @throws StackConfigError for a missing or unknown target. */
export async function program(config = new pulumi.Config()): Promise<StackOutputs> {
  const target = config.get('target');
  switch (target) {
    case 'minikube':
      return minikubeStack(config);
    case 'iks':
      return iksStack(config);
    case 'kubeconfig':
      return kubeconfigStack(config);
    default:
      throw new StackConfigError(`${PROJECT}:target: ${target === undefined ? 'required' : `unknown target "${target}"`}; one of ${TARGETS.join(', ')}`);
  }
}
