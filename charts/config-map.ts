import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { APP_CONFIG_KEYS, APP_PORT, type AppConfigKey } from '@expense-tracker/model/app-contract';
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
 * The `expense-config` ConfigMap: every non-secret setting the app reads, keyed by the
 * environment variable names of `APP_CONFIG_KEYS` (consumed with `envFrom`).
 */
export class AppConfigMap extends Construct {
  readonly configMap: kplus.ConfigMap;
  /** The rendered settings, by environment variable name. */
  readonly data: Readonly<Record<AppConfigKey, string>>;

  constructor(scope: Construct, id: string, props: AppConfigMapProps) {
    super(scope, id);
    this.data = appConfigData(props.environment, props.postgres ?? { host: POSTGRES.name, port: POSTGRES.port }, props.redis ?? { host: REDIS.name, port: REDIS.port });
    this.configMap = new kplus.ConfigMap(this, 'Resource', {
      metadata: { name: props.name ?? WEB.configMapName, labels: props.labels },
      data: this.data,
    });
  }
}
