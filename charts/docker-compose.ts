/**
 * The seeds' docker-compose topology, rendered from the same validated environment model as the
 * charts and the HAProxy config: `web` × `web.replicas` behind HAProxy, PostgreSQL on a named
 * volume, Redis, a one-shot `migrate` service (the chart's migration initContainer), healthchecks,
 * `depends_on` with conditions, `init: true`, and the hardening the chart applies (numeric UIDs,
 * read-only root filesystems, no capabilities, no-new-privileges).
 *
 * YAML 1.1 output (quoted `"no"`), because docker-compose 1.x parses with PyYAML.
 *
 * Output (relative to `dist/<env>/`), written by `npm run synth`:
 *   compose/docker-compose.yml   compose file format 2.4 (docker-compose 1.29 and `docker compose` v2)
 *   compose/haproxy.cfg          the cluster's haproxy.cfg with the servers found through Docker's DNS
 * They live in a subdirectory because `kubectl apply -f dist/<env>` reads every .yaml/.yml file
 * of that directory (not of subdirectories).
 *
 * No secret value is in these files: each service reads its secrets from an env file in
 * `${EXPENSE_COMPOSE_SECRETS_DIR}` (default `../../../.secrets/compose-<env>`, i.e. the git-ignored
 * `.secrets/` of the repository when `dist/` is at its root), created by
 * `npm run compose -- secrets` (scripts/docker-compose/secrets.ts).
 *
 * `synthesize` builds the topology with the rest of the environment's outputs.
 *
 * Variables read by docker-compose when the file is used (all optional):
 *   HAPROXY_PORT (default 8080), HAPROXY_STATS_PORT (default 8404): published on 127.0.0.1;
 *   EXPENSE_COMPOSE_SECRETS_DIR: directory of the env files;
 *   COMPOSE_BRIDGE_NAME (default `etkd-<env>`): Linux bridge of the project network (≤ 15 bytes).
 */
import { stringify } from 'yaml';
import { APP_CONFIG_KEYS, APP_MIGRATE_COMMAND, APP_PORT, APP_SERVER_COMMAND, APP_UID, APP_GID, READY_PATH } from '@expense-tracker/model/app-contract';
import { formatImageReference, HAPROXY_IMAGE_UID, REDIS_IMAGE_UID } from '@expense-tracker/model/images';
import { APP_SECRET_ENV, type AppConfigKey, type AppSecretEnv } from '@expense-tracker/model/app-contract';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { HAPROXY, POSTGRES, REDIS } from '@expense-tracker/model/components';
import { renderHaproxyConfig } from './haproxy-config.js';

/** Directory of the compose files inside `dist/<env>/`. */
export const COMPOSE_DIR = 'compose';
/**
 * Compose service names; they are also the DNS names containers use for each other. PostgreSQL
 * and Redis are named like their Kubernetes Services, so the app's settings are the same.
 */
export const SERVICES = { postgres: POSTGRES.name, redis: REDIS.name, migrate: 'migrate', web: 'web', haproxy: 'haproxy' } as const;
/** Env files (in the secrets directory) and the variables each one must define. */
export const SECRET_ENV_FILES: { readonly 'postgres.env': readonly string[]; readonly 'redis.env': readonly string[]; readonly 'app.env': readonly AppSecretEnv[] } = {
  'postgres.env': ['POSTGRES_PASSWORD'],
  'redis.env': ['REDIS_PASSWORD', 'REDISCLI_AUTH'],
  // The app's secret variables (model/app-contract.ts).
  'app.env': Object.keys(APP_SECRET_ENV) as AppSecretEnv[],
};

/** Default secrets directory, relative to the compose file (`dist/<env>/compose/` → `<repo>/.secrets/compose-<env>`). */
export function defaultSecretsDir(env: EnvironmentConfig): string {
  return `../../../.secrets/compose-${env.name}`;
}

/** The compose topology of an environment, as `synthesize` returns it. */
export interface ComposeTopology {
  /** The compose file (format 2.4) as an object. */
  readonly file: Record<string, unknown>;
  /** The `haproxy.cfg` the `haproxy` service mounts: the cluster's, with servers found through Docker's DNS. */
  readonly haproxyConfig: string;
}

/** Container hardening shared by every long-running service (what the chart's securityContext does). */
const hardened = {
  read_only: true,
  cap_drop: ['ALL'],
  security_opt: ['no-new-privileges'],
  init: true,
};

/**
 * The compose topology of an environment.
 * @param configData the app's settings (the chart's `expense-config` data)
 * @throws Error when HAProxy is disabled for the environment (the schema rejects that with compose.enabled)
 */
export function composeTopology(env: EnvironmentConfig, configData: Readonly<Record<AppConfigKey, string>>): ComposeTopology {
  if (!env.haproxy.enabled) throw new Error(`environment "${env.name}": haproxy.enabled is false; the compose topology needs HAProxy`);
  // The app's settings only: imports need a staging volume and a worker the topology does not run yet (the import API answers 503).
  const appConfig = Object.fromEntries(APP_CONFIG_KEYS.map((k) => [k, configData[k]])) as Record<AppConfigKey, string>;
  return {
    file: composeFile(env, appConfig),
    haproxyConfig: renderHaproxyConfig(env, { kind: 'compose', service: SERVICES.web, composeFile: `dist/${env.name}/${COMPOSE_DIR}/docker-compose.yml` }),
  };
}

function composeFile(env: EnvironmentConfig, config: Readonly<Record<AppConfigKey, string>>): Record<string, unknown> {
  const secrets = `\${EXPENSE_COMPOSE_SECRETS_DIR:-${defaultSecretsDir(env)}}`;
  const image = formatImageReference(env.image);
  const appEnvironment = { ...config, PUBLIC_BASE_URL: `http://127.0.0.1:\${HAPROXY_PORT:-${HAPROXY.httpPort}}` };
  const appService = {
    image,
    user: `${APP_UID}:${APP_GID}`,
    ...hardened,
    tmpfs: ['/tmp'],
    environment: appEnvironment,
    env_file: [`${secrets}/app.env`],
  };
  const probe = (seconds: number) => ({ interval: `${seconds}s`, timeout: '3s', retries: 3 });
  return {
    version: '2.4',
    services: {
      [SERVICES.postgres]: {
        image: formatImageReference(env.postgres.image),
        // The entrypoint starts as root only to own the named volume, then runs as UID 999 (gosu).
        environment: { POSTGRES_USER: env.postgres.username, POSTGRES_DB: env.postgres.database, PGDATA: POSTGRES.pgdata },
        env_file: [`${secrets}/postgres.env`],
        volumes: [`postgres-data:${POSTGRES.dataMountPath}`],
        init: true,
        stop_grace_period: '30s',
        healthcheck: {
          test: ['CMD-SHELL', `pg_isready -U "$$POSTGRES_USER" -d "$$POSTGRES_DB" -h 127.0.0.1 -p ${POSTGRES.port}`],
          ...probe(2),
          retries: 15,
          start_period: '30s',
        },
        restart: 'unless-stopped',
      },
      [SERVICES.redis]: {
        image: formatImageReference(env.redis.image),
        user: `${REDIS_IMAGE_UID}:${REDIS_IMAGE_UID}`,
        ...hardened,
        tmpfs: ['/data'],
        env_file: [`${secrets}/redis.env`],
        // As the chart: redis-server with --requirepass from the secret ($$ escapes compose interpolation).
        entrypoint: ['sh', '-c', `exec redis-server --port ${REDIS.port} --dir /data --requirepass "$$REDIS_PASSWORD" --appendonly no --save ""`],
        healthcheck: { test: ['CMD-SHELL', 'redis-cli -h 127.0.0.1 ping | grep -q PONG'], ...probe(2), retries: 15 },
        restart: 'unless-stopped',
      },
      [SERVICES.migrate]: {
        ...appService,
        command: [...APP_MIGRATE_COMMAND],
        depends_on: { [SERVICES.postgres]: { condition: 'service_healthy' } },
        restart: 'no',
      },
      [SERVICES.web]: {
        ...appService,
        command: [...APP_SERVER_COMMAND],
        scale: env.web.replicas,
        stop_grace_period: `${env.web.terminationGracePeriodSeconds}s`,
        healthcheck: {
          test: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${APP_PORT}${READY_PATH}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
          ...probe(2),
          retries: 3,
          start_period: '20s',
        },
        depends_on: {
          [SERVICES.migrate]: { condition: 'service_completed_successfully' },
          [SERVICES.redis]: { condition: 'service_healthy' },
        },
        restart: 'unless-stopped',
      },
      [SERVICES.haproxy]: {
        image: formatImageReference(env.haproxy.image),
        user: `${HAPROXY_IMAGE_UID}:${HAPROXY_IMAGE_UID}`,
        ...hardened,
        tmpfs: [HAPROXY.runDir],
        volumes: [`./haproxy.cfg:${HAPROXY.configPath}:ro`],
        ports: [
          `127.0.0.1:\${HAPROXY_PORT:-${HAPROXY.httpPort}}:${HAPROXY.httpPort}`,
          `127.0.0.1:\${HAPROXY_STATS_PORT:-${HAPROXY.statsPort}}:${HAPROXY.statsPort}`,
        ],
        // The image has no HTTP client; bash's /dev/tcp asks HAProxy's own monitor-uri.
        healthcheck: {
          test: ['CMD', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${HAPROXY.httpPort} && printf 'GET ${HAPROXY.monitorUri} HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '`],
          ...probe(2),
        },
        stop_signal: 'SIGUSR1',
        depends_on: { [SERVICES.web]: { condition: 'service_healthy' } },
        restart: 'unless-stopped',
      },
    },
    networks: {
      default: {
        driver: 'bridge',
        driver_opts: { 'com.docker.network.bridge.name': `\${COMPOSE_BRIDGE_NAME:-etkd-${env.name}}` },
      },
    },
    volumes: { 'postgres-data': {} },
  };
}

/** Files for `dist/<env>/`: `compose/docker-compose.yml` and `compose/haproxy.cfg` (deterministic). */
export function composeFiles(env: EnvironmentConfig, topology: ComposeTopology): Map<string, string> {
  const header = [
    `# docker-compose topology for environment "${env.name}" (web x ${env.web.replicas} behind HAProxy, PostgreSQL, Redis).`,
    '# Generated from the environment model (model/environments/): edit the model, not this file.',
    '# Secrets come from env files in $EXPENSE_COMPOSE_SECRETS_DIR (create them: npm run compose -- secrets).',
    `# Run: npm run compose -- up   (or: docker-compose -f dist/${env.name}/${COMPOSE_DIR}/docker-compose.yml up -d)`,
    '',
  ].join('\n');
  return new Map([
    [`${COMPOSE_DIR}/docker-compose.yml`, header + stringify(topology.file, { lineWidth: 0, version: '1.1', aliasDuplicateObjects: false })],
    [`${COMPOSE_DIR}/haproxy.cfg`, topology.haproxyConfig],
  ]);
}
