import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { APP_CONFIG_KEYS, APP_PORT, type AppConfigKey } from '@expense-tracker/model/app-contract';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';

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
   * Host name of the PostgreSQL Service.
   * @default 'postgres'
   */
  readonly postgresHost?: string;
  /**
   * Host name of the Redis Service.
   * @default 'redis'
   */
  readonly redisHost?: string;
  /**
   * Labels on the ConfigMap.
   * @default {}
   */
  readonly labels?: Record<string, string>;
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
    const env = props.environment;
    const scheme = env.ingress.tlsSecretName ? 'https' : 'http';
    const data: Record<AppConfigKey, string> = {
      NODE_ENV: 'production',
      PORT: String(APP_PORT),
      PGHOST: props.postgresHost ?? 'postgres',
      PGPORT: '5432',
      PGDATABASE: env.postgres.database,
      PGUSER: env.postgres.username,
      REDIS_URL: `redis://${props.redisHost ?? 'redis'}:6379/0`,
      LOG_LEVEL: env.app.logLevel,
      MAIL_FROM: env.app.mailFrom,
      PUBLIC_BASE_URL: `${scheme}://${env.ingress.host}`,
      ADMIN_EMAIL: env.app.adminEmail,
    };
    for (const key of APP_CONFIG_KEYS) if (!(key in data)) throw new Error(`AppConfigMap is missing ${key}`);
    this.data = data;
    this.configMap = new kplus.ConfigMap(this, 'Resource', {
      metadata: { name: props.name ?? 'expense-config', labels: props.labels },
      data,
    });
  }
}
