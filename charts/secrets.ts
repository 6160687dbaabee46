/**
 * The Secrets the deployment expects, described once: names, keys and labels, and where each
 * value comes from. The chart only references them (no secret value ever reaches a manifest);
 * `npm run create-secrets` and the Pulumi component create them from this description, with
 * values they generate or read from encrypted config.
 */
import { SECRETS } from '@expense-tracker/model/app-contract';
import { POSTGRES_HA } from '@expense-tracker/model/components';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { instanceName, PART_OF } from '@expense-tracker/model/naming';

/** The secret values a deployment needs; each creator fills them (random, config, environment). */
export type SecretValueName =
  | 'postgresPassword'
  | 'redisPassword'
  | 'sessionSecret'
  | 'sendgridApiKey'
  /** Patroni's `postgres` superuser and `replicator` passwords (`postgres.mode: ha`). */
  | 'patroniSuperuserPassword'
  | 'patroniReplicationPassword'
  /** HMAC keys of the backup repository (`postgres.backup.enabled`), issued by the object store. */
  | 'backupS3AccessKey'
  | 'backupS3SecretKey';

/** One key of a Secret: a value known from the environment, or a secret value supplied by the creator. */
export type SecretKeySource = { readonly value: string } | { readonly secret: SecretValueName };

/** One Secret the deployment expects. */
export interface SecretSpec {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Key → where its value comes from. */
  readonly keys: Readonly<Record<string, SecretKeySource>>;
}

/**
 * The Secrets of an environment: the app's (`SECRETS` in model/app-contract.ts) and, with
 * `postgres.mode: ha`, Patroni's and the backup repository's (`POSTGRES_HA` in model/components.ts).
 */
export function secretSpecs(env: EnvironmentConfig): SecretSpec[] {
  const meta = { namespace: env.namespace, labels: { 'app.kubernetes.io/part-of': PART_OF, 'app.kubernetes.io/instance': instanceName(env.name) } };
  const p = SECRETS.postgres.keys;
  const a = SECRETS.app.keys;
  const patroni = POSTGRES_HA.patroniSecret;
  const s3 = POSTGRES_HA.backupS3Secret;
  const ha = env.postgres.mode === 'ha';
  return [
    {
      name: SECRETS.postgres.name,
      ...meta,
      keys: { [p.username]: { value: env.postgres.username }, [p.password]: { secret: 'postgresPassword' }, [p.database]: { value: env.postgres.database } },
    },
    { name: SECRETS.redis.name, ...meta, keys: { [SECRETS.redis.keys.password]: { secret: 'redisPassword' } } },
    { name: SECRETS.app.name, ...meta, keys: { [a.sessionSecret]: { secret: 'sessionSecret' }, [a.sendgridApiKey]: { secret: 'sendgridApiKey' } } },
    ...(ha
      ? [
          {
            name: patroni.name,
            ...meta,
            keys: { [patroni.keys.superuserPassword]: { secret: 'patroniSuperuserPassword' }, [patroni.keys.replicationPassword]: { secret: 'patroniReplicationPassword' } },
          } satisfies SecretSpec,
        ]
      : []),
    ...(ha && env.postgres.backup.enabled && env.postgres.backup.repository === 's3'
      ? [{ name: s3.name, ...meta, keys: { [s3.keys.accessKey]: { secret: 'backupS3AccessKey' }, [s3.keys.secretKey]: { secret: 'backupS3SecretKey' } } } satisfies SecretSpec]
      : []),
  ];
}

/**
 * A Secret manifest (values in `stringData`) for a spec, with `values` for its secret keys.
 * `T` is the value type: plain strings, or e.g. Pulumi Inputs.
 */
export function secretManifest<T>(spec: SecretSpec, values: Readonly<Record<SecretValueName, T>>) {
  const stringData: Record<string, string | T> = {};
  for (const [key, source] of Object.entries(spec.keys)) stringData[key] = 'value' in source ? source.value : values[source.secret];
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: spec.name, namespace: spec.namespace, labels: { ...spec.labels } },
    type: 'Opaque',
    stringData,
  };
}

/**
 * Where containers find the Secrets they read: each Secret's keys as files under
 * `/run/secrets/<secret name>/` (Docker's convention for secrets), read-only, mode 0440, group
 * the pod's `fsGroup`. No container reads a Secret through its environment.
 */
export const SECRET_MOUNT_ROOT = '/run/secrets';

/** Directory a Secret is mounted at. */
export const secretMountPath = (secretName: string): string => `${SECRET_MOUNT_ROOT}/${secretName}`;

/** File holding one key of a Secret inside the containers that mount it. */
export const secretFilePath = (secretName: string, key: string): string => `${secretMountPath(secretName)}/${key}`;
