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

/**
 * PostgreSQL's port (libpq's default `PGPORT`): where the app connects when `PGPORT` is unset,
 * and the port of Service `postgres` (`POSTGRES.port`, components.ts).
 */
export const POSTGRES_PORT = 5432;

/**
 * Port of the app's separate Prometheus listener (`METRICS_PORT`), named `metrics`. Only the
 * cluster's scraper may reach it; HAProxy and the Ingress never route to it.
 */
export const APP_METRICS_PORT = 9464;
export const APP_METRICS_PORT_NAME = 'metrics';

/**
 * Liveness endpoint (`GET`, app port): 200 while the process can answer at all. It checks no
 * dependency, so an outage of PostgreSQL or Redis never gets pods restarted.
 */
export const HEALTH_PATH = '/healthz';

/**
 * Readiness endpoint (`GET`, app port). The readiness contract:
 * - {@link READY_STATUS} while the replica takes traffic, also while PostgreSQL or Redis is down
 *   or the replica is overloaded: they are reported in the JSON body (`{status:'ready'|'degraded'|
 *   'busy', postgres:'up'|'down', redis:'up'|'down', pool:'ok'|'exhausted'}`) and metrics
 *   (`app_dependency_up`, `pg_pool_acquire_timeouts_total`), never by failing readiness. Redis is
 *   only a cache; without PostgreSQL every replica alike answers its own 503 page with
 *   `Retry-After` ({@link UNAVAILABLE_RETRY_AFTER_SECONDS}) and keeps serving the pages that need no
 *   database, which taking replicas out of rotation would replace with the load balancer's error.
 *   An overloaded replica (no free database connection within the pool's wait) answers 503
 *   `server_busy` with `Retry-After` ({@link BUSY_RETRY_AFTER_SECONDS}); taking it out of rotation
 *   would only move its load onto the others.
 * - {@link DRAINING_STATUS} from the moment shutdown (SIGTERM) begins, so load balancers stop
 *   sending before the listener closes.
 * - It answers within {@link READY_CHECK_TIMEOUT_MS} plus a little: probe and check timeouts must
 *   be longer.
 * The kubelet's readiness probe and HAProxy's `option httpchk` both use this path and expect
 * {@link READY_STATUS}; HAProxy retries idempotent requests that got a 503 on another server (a
 * replica that lost its database, or whose pool is exhausted, while another may have room).
 */
export const READY_PATH = '/readyz';
export const READY_STATUS = 200;
export const DRAINING_STATUS = 503;
/** Milliseconds the readiness endpoint waits for each dependency check. */
export const READY_CHECK_TIMEOUT_MS = 1_000;
/** `Retry-After` seconds of the app's 503 answers while PostgreSQL is unreachable. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;
/**
 * `Retry-After` seconds of the app's 503 `server_busy` answers: PostgreSQL answers but no pool
 * connection became free in time (overload). Shorter than an outage's: load passes in seconds.
 */
export const BUSY_RETRY_AFTER_SECONDS = 2;

/**
 * The one service outside the cluster the app connects to: SendGrid's v3 Web API over HTTPS
 * (`@sendgrid/mail`'s default base URL; `SENDGRID_API_URL` overrides it in tests). The chart
 * allows TCP `port` to public addresses for it.
 */
export const MAIL_API = { name: 'sendgrid', url: 'https://api.sendgrid.com', port: 443 } as const;

/** Prometheus metrics endpoint (prom-client text format), on {@link APP_METRICS_PORT} only. */
export const METRICS_PATH = '/metrics';
/**
 * Bucket upper bounds (seconds) of the app's `http_request_duration_seconds` histogram. A latency
 * objective can only be measured at one of them (`le="<bound>"`), so the monitoring schema
 * accepts only these as `monitoring.slo.latency.thresholdSeconds`.
 */
export const HTTP_DURATION_BUCKETS_SECONDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

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

/**
 * For each secret variable, the variable naming a file to read it from instead (`<NAME>_FILE`,
 * the convention of the official postgres/redis images), for Secrets mounted as volumes. The app
 * refuses both being set.
 */
export const APP_SECRET_FILE_ENV = {
  PGPASSWORD: 'PGPASSWORD_FILE',
  REDIS_PASSWORD: 'REDIS_PASSWORD_FILE',
  SESSION_SECRET: 'SESSION_SECRET_FILE',
  SENDGRID_API_KEY: 'SENDGRID_API_KEY_FILE',
} as const satisfies { [K in AppSecretEnv]: `${K}_FILE` };

/**
 * Listener settings with defaults, which a deployment may leave unset: `HOST` (address both
 * listeners bind; all IPv4 interfaces, as a container needs) and `METRICS_PORT`.
 */
export const APP_LISTEN_ENV = { HOST: '0.0.0.0', METRICS_PORT: String(APP_METRICS_PORT) } as const;

/** Command that starts the CSV import worker (its own Deployment). */
export const APP_IMPORT_WORKER_COMMAND: readonly string[] = ['node', 'dist/imports/worker.js'];
/** Port of the import worker's `/healthz`, `/readyz` and `/metrics` (`IMPORT_WORKER_PORT`). */
export const IMPORT_WORKER_PORT = 8081;
/** Name of the import worker's container port. */
export const IMPORT_WORKER_PORT_NAME = 'metrics';
/** Where web and worker pods mount the import staging volume (`IMPORT_STAGING_DIR`). */
export const IMPORT_STAGING_PATH = '/var/lib/expense-imports';
/** Path prefix of the import API (`POST /api/imports`, `/api/imports/:id`, …). */
export const IMPORT_PATH_PREFIX = '/api/imports';

/**
 * Settings of the CSV import feature (`app/src/imports/config.ts`), delivered through the
 * `expense-config` ConfigMap when an environment enables imports. Without `IMPORT_STAGING_DIR`
 * the app answers the import API with 503.
 */
export const IMPORT_CONFIG_KEYS = [
  'IMPORT_STAGING_DIR',
  'IMPORT_MAX_BYTES',
  'IMPORT_INLINE_MAX_BYTES',
  'IMPORT_USER_MAX_ACTIVE',
  'IMPORT_USER_DAILY_BYTES',
  'IMPORT_STAGING_RESERVE_BYTES',
  'IMPORT_FAILED_RETENTION_HOURS',
  'IMPORT_LEASE_SECONDS',
  'IMPORT_WORKER_PORT',
] as const;
export type ImportConfigKey = (typeof IMPORT_CONFIG_KEYS)[number];
