import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  APP_CONFIG_KEYS,
  APP_PORT,
  type AppConfigKey,
  IMPORT_CONFIG_KEYS,
  IMPORT_STAGING_PATH,
  IMPORT_WORKER_PORT,
  type ImportConfigKey,
} from '@expense-tracker/model/app-contract';
import { POSTGRES, REDIS, WEB } from '@expense-tracker/model/components';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';

/** Where a client reaches a server: host name and TCP port (`Postgres` and `Redis` are ones). */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** Props for `AppConfigMap`. */
export interface AppConfigMapProps {
  /** Validated environment the settings come from. */
  readonly environment: EnvironmentConfig;
  /**
   * `metadata.name`.
   * @default 'expense-config'
   */
  readonly name?: string;
  /**
   * The PostgreSQL the app uses.
   * @default Service `postgres` on 5432
   */
  readonly postgres?: Endpoint;
  /**
   * The Redis the app uses.
   * @default Service `redis` on 6379
   */
  readonly redis?: Endpoint;
  /**
   * Labels on the ConfigMap.
   * @default {}
   */
  readonly labels?: Record<string, string>;
}

/**
 * The app's non-secret settings, by environment variable name (`APP_CONFIG_KEYS`): what the
 * `expense-config` ConfigMap holds and what the compose file sets.
 */
export function appConfigData(env: EnvironmentConfig, postgres: Endpoint, redis: Endpoint): Record<AppConfigKey, string> {
  const scheme = env.ingress.tlsSecretName ? 'https' : 'http';
  const data: Record<AppConfigKey, string> = {
    NODE_ENV: 'production',
    PORT: String(APP_PORT),
    PGHOST: postgres.host,
    PGPORT: String(postgres.port),
    PGDATABASE: env.postgres.database,
    PGUSER: env.postgres.username,
    REDIS_URL: `redis://${redis.host}:${redis.port}/0`,
    LOG_LEVEL: env.app.logLevel,
    MAIL_FROM: env.app.mailFrom,
    PUBLIC_BASE_URL: `${scheme}://${env.ingress.host}`,
    ADMIN_EMAIL: env.app.adminEmail,
  };
  for (const key of APP_CONFIG_KEYS) if (!(key in data)) throw new Error(`AppConfigMap is missing ${key}`);
  return data;
}

/**
 * The import feature's settings (`IMPORT_CONFIG_KEYS`) from `env.imports`; byte sizes keep their
 * binary suffix (`16Gi`), which the app reads as such.
 */
export function importConfigData(env: EnvironmentConfig): Record<ImportConfigKey, string> {
  const i = env.imports;
  const data: Record<ImportConfigKey, string> = {
    IMPORT_STAGING_DIR: IMPORT_STAGING_PATH,
    IMPORT_MAX_BYTES: i.maxBytes,
    IMPORT_INLINE_MAX_BYTES: i.inlineMaxBytes,
    IMPORT_USER_MAX_ACTIVE: String(i.userMaxActive),
    IMPORT_USER_DAILY_BYTES: i.userDailyBytes,
    IMPORT_STAGING_RESERVE_BYTES: i.staging.reserve,
    IMPORT_FAILED_RETENTION_HOURS: String(i.failedRetentionHours),
    IMPORT_LEASE_SECONDS: String(i.leaseSeconds),
    IMPORT_WORKER_PORT: String(IMPORT_WORKER_PORT),
  };
  for (const key of IMPORT_CONFIG_KEYS) if (!(key in data)) throw new Error(`AppConfigMap is missing ${key}`);
  return data;
}

/**
 * The `expense-config` ConfigMap: every non-secret setting the app reads, keyed by the
 * environment variable names of `APP_CONFIG_KEYS` (consumed with `envFrom`), plus
 * `IMPORT_CONFIG_KEYS` when the environment enables imports.
 */
export class AppConfigMap extends Construct {
  readonly configMap: kplus.ConfigMap;
  /** The rendered settings, by environment variable name. */
  readonly data: Readonly<Record<AppConfigKey, string> & Partial<Record<ImportConfigKey, string>>>;

  constructor(scope: Construct, id: string, props: AppConfigMapProps) {
    super(scope, id);
    const env = props.environment;
    this.data = {
      ...appConfigData(env, props.postgres ?? { host: POSTGRES.name, port: POSTGRES.port }, props.redis ?? { host: REDIS.name, port: REDIS.port }),
      ...(env.imports.enabled ? importConfigData(env) : {}),
    };
    this.configMap = new kplus.ConfigMap(this, 'Resource', {
      metadata: { name: props.name ?? WEB.configMapName, labels: props.labels },
      data: this.data,
    });
  }
}
