/**
 * Stack configuration of the `expense-tracker` Pulumi project, read from `Pulumi.<stack>.yaml`
 * (namespace `expense-tracker:`) and validated with zod. Every error names the config key.
 *
 * Secrets are never read here as plain values: `secretString()` returns them as Pulumi
 * secret Outputs (set them with `pulumi config set --secret <key> <value>`).
 */
import * as pulumi from '@pulumi/pulumi';
import { type ImageReference, parseImageReference } from '@expense-tracker/model/images';
import { z } from 'zod';

/** The Pulumi project name; also the config namespace. */
export const PROJECT = 'expense-tracker';

/** Raised for invalid stack configuration; the message names the key (`expense-tracker:<key>`). */
export class StackConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StackConfigError';
  }
}

/**
 * Reads an image reference `repository:tag[@digest]` (the model's one image grammar) from config.
 * @throws StackConfigError naming the key when it is malformed or has no tag
 */
export function parseImageSetting(reference: string, key = `${PROJECT}:image`): ImageReference & { readonly tag: string } {
  let ref: ImageReference;
  try {
    ref = parseImageReference(reference);
  } catch (error) {
    throw new StackConfigError(`${key}: ${(error as Error).message}: must be an image reference "repository:tag[@digest]"`);
  }
  if (!ref.tag) throw new StackConfigError(`${key}: "${reference}" must be an image reference "repository:tag[@digest]"`);
  return { ...ref, tag: ref.tag };
}

/** `--set` assignments that point an environment's app image at `ref`'s repository (and digest, if any). */
export function imageOverrides(ref: ImageReference): string[] {
  return [`image.repository=${ref.repository}`, ...(ref.digest ? [`image.digest=${ref.digest}`] : [])];
}

/** Reads and validates an object-valued key. @throws StackConfigError naming the key and field. */
export function readObject<T extends z.ZodType>(config: pulumi.Config, key: string, schema: T): z.infer<T> {
  const raw = config.getObject<unknown>(key) ?? {};
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = [key, ...issue.path.map(String)].join('.');
    throw new StackConfigError(`${PROJECT}:${path}: ${issue.message}`);
  }
  return parsed.data;
}

/** Settings shared by every stack. */
export interface CommonSettings {
  /** Built-in environment the chart is synthesized for (model/environment.ts, e.g. `local`, `ibm`). */
  environment: string;
  /** Helm-style `path=value` overrides applied to the environment (see model/environment.ts). */
  set: string[];
  /** Image reference `repository:tag[@digest]`, or undefined to use the environment's. */
  image: string | undefined;
}

/** Reads `environment` (required), `set` and `image`. @throws StackConfigError naming the key */
export function readCommon(config: pulumi.Config): CommonSettings {
  const environment = config.get('environment');
  if (!environment) throw new StackConfigError(`${PROJECT}:environment: required (the environment to deploy, e.g. local or ibm)`);
  const set = config.getObject<unknown>('set') ?? [];
  if (!Array.isArray(set) || set.some((s) => typeof s !== 'string')) {
    throw new StackConfigError(`${PROJECT}:set: must be a list of "path=value" strings`);
  }
  const image = config.get('image');
  if (image !== undefined) parseImageSetting(image);
  return { environment, set: set as string[], image };
}

/** Where a stack deploys: an explicit kubeconfig (path or YAML) and/or context. */
export interface KubeTarget {
  /** Path to a kubeconfig file or the kubeconfig YAML itself; undefined = provider default (KUBECONFIG, ~/.kube/config). */
  kubeconfig: pulumi.Output<string> | undefined;
  /** Context name; undefined = current-context. */
  context: string | undefined;
}

/** Reads `kubeconfig` (may be a secret) and `kubeContext`. */
export function readKubeTarget(config: pulumi.Config): KubeTarget {
  const kubeconfig = config.getSecret('kubeconfig');
  return { kubeconfig, context: config.get('kubeContext') };
}

/** Application secrets; each is a Pulumi secret Output, or undefined to generate one. */
export interface AppSecretSettings {
  postgresPassword: pulumi.Output<string> | undefined;
  redisPassword: pulumi.Output<string> | undefined;
  sessionSecret: pulumi.Output<string> | undefined;
  sendgridApiKey: pulumi.Output<string> | undefined;
  patroniSuperuserPassword: pulumi.Output<string> | undefined;
  patroniReplicationPassword: pulumi.Output<string> | undefined;
  /** HMAC keys of the backup repository (`postgres.backup.enabled` with `repository: s3`). */
  backupS3AccessKey: pulumi.Output<string> | undefined;
  backupS3SecretKey: pulumi.Output<string> | undefined;
}

/**
 * Reads the optional secret keys `postgresPassword`, `redisPassword`, `sessionSecret`,
 * `sendgridApiKey`, `patroniSuperuserPassword`, `patroniReplicationPassword`,
 * `backupS3AccessKey`, `backupS3SecretKey`.
 */
export function readAppSecrets(config: pulumi.Config): AppSecretSettings {
  return {
    postgresPassword: config.getSecret('postgresPassword'),
    redisPassword: config.getSecret('redisPassword'),
    sessionSecret: config.getSecret('sessionSecret'),
    sendgridApiKey: config.getSecret('sendgridApiKey'),
    patroniSuperuserPassword: config.getSecret('patroniSuperuserPassword'),
    patroniReplicationPassword: config.getSecret('patroniReplicationPassword'),
    backupS3AccessKey: config.getSecret('backupS3AccessKey'),
    backupS3SecretKey: config.getSecret('backupS3SecretKey'),
  };
}
