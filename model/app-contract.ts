/**
 * The contract between the expense tracker (`app/`) and everything that deploys it (charts,
 * HAProxy, Pulumi stacks, the compose file): ports, probe paths, the image's user, workdir and
 * commands, the environment variables it reads and the Secrets they come from.
 *
 * This module is the only home of these facts: the app imports it (`@expense-tracker/model/app-contract`,
 * copied into its image by `app/Dockerfile`) and so do the charts. It imports nothing, so the
 * app's image carries no deployment code.
 */

/** Container port the app listens on (`PORT`), named `http` in every pod spec. */
export const APP_PORT = 8080;
/** Name of the container port, used by Services as a named `targetPort`. */
export const APP_PORT_NAME = 'http';

/** Liveness endpoint: 200 while the process is alive (no dependency checks). */
export const HEALTH_PATH = '/healthz';
/** Readiness endpoint: 200 when PostgreSQL and Redis answer and shutdown has not begun. */
export const READY_PATH = '/readyz';
/** Prometheus metrics endpoint (prom-client text format). */
export const METRICS_PATH = '/metrics';

/**
 * Numeric UID/GID the app image runs as (`USER 10001:10001` in `app/Dockerfile`).
 * Above 10000 so it never collides with a host account.
 */
export const APP_UID = 10001;
export const APP_GID = 10001;

/** Working directory of the app inside its image. */
export const APP_WORKDIR = '/app';
/** Command that starts the HTTP server. */
export const APP_SERVER_COMMAND: readonly string[] = ['node', 'dist/server.js'];
/**
 * Command that applies database migrations and exits (what `npm run migrate -w app` runs).
 * The chart runs it as an initContainer of the web Deployment, compose as a one-shot service.
 */
export const APP_MIGRATE_COMMAND: readonly string[] = ['node', 'dist/cli.js', 'migrate'];

/**
 * Non-secret environment variables the app reads, all delivered through the
 * `expense-config` ConfigMap (compose: the service's `environment`).
 */
export const APP_CONFIG_KEYS = [
  'NODE_ENV',
  'PORT',
  'PGHOST',
  'PGPORT',
  'PGDATABASE',
  'PGUSER',
  'REDIS_URL',
  'LOG_LEVEL',
  'MAIL_FROM',
  'PUBLIC_BASE_URL',
  'ADMIN_EMAIL',
] as const;
export type AppConfigKey = (typeof APP_CONFIG_KEYS)[number];

/** Kubernetes Secrets the deployment expects, and the keys inside them. */
export const SECRETS = {
  /** PostgreSQL credentials (`kubernetes.io/basic-auth` style keys plus the database name). */
  postgres: { name: 'postgres-credentials', keys: { username: 'username', password: 'password', database: 'database' } },
  /** Redis `requirepass` password. */
  redis: { name: 'redis-credentials', keys: { password: 'password' } },
  /** Application secrets: cookie/session signing secret and the SendGrid API key. */
  app: { name: 'expense-app', keys: { sessionSecret: 'session-secret', sendgridApiKey: 'sendgrid-api-key' } },
} as const;

/** Secret environment variables of the app and the Secret key each one comes from. */
export const APP_SECRET_ENV = {
  PGPASSWORD: { secret: SECRETS.postgres.name, key: SECRETS.postgres.keys.password },
  REDIS_PASSWORD: { secret: SECRETS.redis.name, key: SECRETS.redis.keys.password },
  SESSION_SECRET: { secret: SECRETS.app.name, key: SECRETS.app.keys.sessionSecret },
  SENDGRID_API_KEY: { secret: SECRETS.app.name, key: SECRETS.app.keys.sendgridApiKey },
} as const;
export type AppSecretEnv = keyof typeof APP_SECRET_ENV;
