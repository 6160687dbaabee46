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
import { formatImageReference, HAPROXY_IMAGE_UID, PINNED_IMAGES, REDIS_IMAGE_UID } from '@expense-tracker/model/images';
import { APP_SECRET_ENV, type AppConfigKey, type AppSecretEnv } from '@expense-tracker/model/app-contract';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { ETCD, HAPROXY, POSTGRES, POSTGRES_HA, REDIS } from '@expense-tracker/model/components';
import { buildLoadBalancerConfig } from '../haproxy/load-balancer.js';
import { addPatroniListen } from '../haproxy/patroni.js';
import { DOCKER_RESOLVERS, loadBalancerSpec } from './haproxy-config.js';
import { patroniConfig } from './patroni-config.js';
import { nssWrapperLines, PATRONI_IMAGE_CONTRACT, PATRONI_SOCKET_DIR, PATRONI_UID } from './postgres-ha.js';

/** Directory of the compose files inside `dist/<env>/`. */
export const COMPOSE_DIR = 'compose';
/**
 * Compose service names; they are also the DNS names containers use for each other. PostgreSQL
 * and Redis are named like their Kubernetes Services, so the app's settings are the same.
 */
export const SERVICES = { postgres: POSTGRES.name, redis: REDIS.name, migrate: 'migrate', web: 'web', haproxy: 'haproxy' } as const;
/** Env files (in the secrets directory) and the variables each one must define. */
export const SECRET_ENV_FILES: {
  readonly 'postgres.env': readonly string[];
  readonly 'redis.env': readonly string[];
  readonly 'app.env': readonly AppSecretEnv[];
  readonly 'patroni.env': readonly string[];
} = {
  'postgres.env': ['POSTGRES_PASSWORD'],
  'redis.env': ['REDIS_PASSWORD', 'REDISCLI_AUTH'],
  // The app's secret variables (model/app-contract.ts).
  'app.env': Object.keys(APP_SECRET_ENV) as AppSecretEnv[],
  // Patroni's own passwords (`postgres.mode: ha`).
  'patroni.env': ['PATRONI_SUPERUSER_PASSWORD', 'PATRONI_REPLICATION_PASSWORD'],
};

/** Default secrets directory, relative to the compose file (`dist/<env>/compose/` → `<repo>/.secrets/compose-<env>`). */
export function defaultSecretsDir(env: EnvironmentConfig): string {
  return `../../../.secrets/compose-${env.name}`;
}

/** The compose topology of an environment, as `synthesize` returns it. */
export interface ComposeTopology {
  /** The compose file (format 2.4) as an object. */
  readonly file: Record<string, unknown>;
  /**
   * The `haproxy.cfg` the `haproxy` service mounts: the cluster's, with servers found through
   * Docker's DNS, plus `listen postgres` in front of the Patroni members in `ha` mode.
   */
  readonly haproxyConfig: string;
  /** Files of `compose/patroni/` (mounted at /etc/patroni in every member); empty in `single` mode. */
  readonly patroniFiles: ReadonlyMap<string, string>;
}

/** Compose service names of the Patroni members in `ha` mode: the StatefulSet's pod names. */
export function patroniMemberNames(env: EnvironmentConfig): string[] {
  return Array.from({ length: env.postgres.ha.members }, (_, i) => `${POSTGRES.name}-${i}`);
}
/** One-shot service that hands the members' and etcd's named volumes to their UIDs (`ha` mode). */
export const VOLUME_OWNER_SERVICE = 'volume-owner';
/** Where `compose/patroni/` is mounted in the members: Patroni merges every `*.yaml` of it. */
const PATRONI_CONFIG_DIR = '/etc/patroni';

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
  const ha = env.postgres.mode === 'ha';
  // The app's settings only: imports need a staging volume and a worker the topology does not run yet (the import API answers 503).
  const appConfig = Object.fromEntries(APP_CONFIG_KEYS.map((k) => [k, configData[k]])) as Record<AppConfigKey, string>;
  const lb = buildLoadBalancerConfig(loadBalancerSpec(env, { kind: 'compose', service: SERVICES.web, composeFile: `dist/${env.name}/${COMPOSE_DIR}/docker-compose.yml` }));
  if (ha) {
    addPatroniListen(lb, {
      name: POSTGRES.name,
      bind: `*:${POSTGRES.port}`,
      members: patroniMemberNames(env).map((name) => ({ name, host: name, postgresPort: POSTGRES.port, apiPort: POSTGRES_HA.apiPort })),
      resolvers: DOCKER_RESOLVERS,
    });
  }
  return { file: composeFile(env, appConfig), haproxyConfig: lb.render(), patroniFiles: ha ? patroniFiles(env) : new Map() };
}

/**
 * `compose/patroni/`: Patroni's configuration (the chart's, with etcd as the DCS), the wrapper
 * the members run under, and the post-bootstrap script that creates the app's role and database
 * from the members' environment (the env files), so no secret is in these files.
 */
function patroniFiles(env: EnvironmentConfig): Map<string, string> {
  const ha = env.postgres.ha;
  const config = patroniConfig({
    scope: POSTGRES_HA.scope,
    dcs: { etcd3: { hosts: [`${ETCD.name}:${ETCD.clientPort}`] } },
    dataDir: POSTGRES.pgdata,
    binDir: PATRONI_IMAGE_CONTRACT.binDir,
    socketDir: PATRONI_SOCKET_DIR,
    pgpassFile: '/tmp/pgpass',
    synchronousMode: ha.synchronousMode,
    timing: ha.timing,
    postBootstrap: `sh ${PATRONI_CONFIG_DIR}/post-bootstrap.sh`,
  });
  const run = ['#!/bin/sh', 'set -eu', ...nssWrapperLines(), 'exec "$@"', ''].join('\n');
  const postBootstrap = [
    '#!/bin/sh',
    'set -eu',
    // psql reads the values from the environment itself: they never appear in a command line.
    'psql -v ON_ERROR_STOP=1 --no-psqlrc "$1" <<\'SQL\'',
    '\\getenv user POSTGRES_USER',
    '\\getenv password POSTGRES_PASSWORD',
    '\\getenv db POSTGRES_DB',
    "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'user', :'password') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \\gexec",
    "SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec",
    'SQL',
    '',
  ].join('\n');
  return new Map([
    ['patroni.yaml', stringify(config, { lineWidth: 0 })],
    ['run.sh', run],
    ['post-bootstrap.sh', postBootstrap],
  ]);
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
  const ha = env.postgres.mode === 'ha' ? haServices(env, secrets) : undefined;
  const single = {
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
  };
  return {
    version: '2.4',
    services: {
      ...(ha ? ha.services : single),
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
        // In `ha` mode the database is HAProxy's `listen postgres`: healthy once it routes to exactly one primary.
        depends_on: { [ha ? SERVICES.haproxy : SERVICES.postgres]: { condition: 'service_healthy' } },
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
        ...(ha
          ? {
              // The app and migrate reach `listen postgres` under the name the single-mode service has.
              networks: { default: { aliases: [SERVICES.postgres] } },
              // Healthy once `listen postgres` has exactly one server UP, the primary (the replicas'
              // `GET /primary` checks have failed `fall` times). bash's /dev/tcp reads the exporter.
              healthcheck: {
                test: ['CMD', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${HAPROXY.statsPort} && printf 'GET ${HAPROXY.metricsPath} HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '^haproxy_backend_active_servers{proxy="${POSTGRES.name}"} 1$$' <&3`],
                ...probe(2),
                retries: 5,
                start_period: '60s',
              },
              depends_on: ha.haproxyDependsOn,
            }
          : {
              // The image has no HTTP client; bash's /dev/tcp asks HAProxy's own monitor-uri.
              healthcheck: {
                test: ['CMD', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${HAPROXY.httpPort} && printf 'GET ${HAPROXY.monitorUri} HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '`],
                ...probe(2),
              },
              depends_on: { [SERVICES.web]: { condition: 'service_healthy' } },
            }),
        stop_signal: 'SIGUSR1',
        restart: 'unless-stopped',
      },
    },
    networks: {
      default: {
        driver: 'bridge',
        driver_opts: { 'com.docker.network.bridge.name': `\${COMPOSE_BRIDGE_NAME:-etkd-${env.name}}` },
      },
    },
    volumes: ha ? ha.volumes : { 'postgres-data': {} },
  };
}

/**
 * `ha` mode: etcd (the DCS), `postgres.ha.members` Patroni members named like the StatefulSet's
 * pods, each on its own named volume, and a one-shot `volume-owner` that gives those volumes to
 * the members' and etcd's UIDs (what `fsGroup` does in Kubernetes; it keeps only CAP_CHOWN).
 */
function haServices(env: EnvironmentConfig, secrets: string) {
  const members = patroniMemberNames(env);
  const volumeOf = (member: string) => `${member}-data`;
  const etcdVolume = `${ETCD.name}-data`;
  const etcdUrl = (host: string, port: number) => `http://${host}:${port}`;
  // A replica is ready once it streams: initdb, then a base backup from the primary, on a busy machine.
  const probe = { interval: '2s', timeout: '3s', retries: 15, start_period: '120s' };
  const volumeMount = (volume: string) => `/volumes/${volume}`;
  // `nocopy`: Docker would otherwise copy the image's directory, with its owner, into the empty
  // volume on first mount, undoing `volume-owner`.
  const namedVolume = (source: string, target: string) => ({ type: 'volume', source, target, volume: { nocopy: true } });
  const services: Record<string, unknown> = {
    [VOLUME_OWNER_SERVICE]: {
      image: formatImageReference(env.postgres.ha.image),
      user: '0:0',
      read_only: true,
      cap_drop: ['ALL'],
      cap_add: ['CHOWN'],
      security_opt: ['no-new-privileges'],
      network_mode: 'none',
      volumes: [...members.map((m) => `${volumeOf(m)}:${volumeMount(volumeOf(m))}`), `${etcdVolume}:${volumeMount(etcdVolume)}`],
      command: [
        'sh',
        '-c',
        [...members.map((m) => `chown ${PATRONI_UID}:${PATRONI_UID} ${volumeMount(volumeOf(m))}`), `chown ${ETCD.uid}:${ETCD.uid} ${volumeMount(etcdVolume)}`].join(' && '),
      ],
      restart: 'no',
    },
    [ETCD.name]: {
      image: formatImageReference(PINNED_IMAGES.etcd),
      user: `${ETCD.uid}:${ETCD.uid}`,
      ...hardened,
      volumes: [namedVolume(etcdVolume, ETCD.dataMountPath)],
      // One member: the peer URL stays on loopback.
      command: [
        '/usr/local/bin/etcd',
        `--name=${ETCD.name}`,
        `--data-dir=${ETCD.dataMountPath}/data`,
        `--listen-client-urls=${etcdUrl('0.0.0.0', ETCD.clientPort)}`,
        `--advertise-client-urls=${etcdUrl(ETCD.name, ETCD.clientPort)}`,
        `--listen-peer-urls=${etcdUrl('127.0.0.1', ETCD.peerPort)}`,
        `--initial-advertise-peer-urls=${etcdUrl('127.0.0.1', ETCD.peerPort)}`,
        `--initial-cluster=${ETCD.name}=${etcdUrl('127.0.0.1', ETCD.peerPort)}`,
      ],
      healthcheck: { test: ['CMD', '/usr/local/bin/etcdctl', `--endpoints=${etcdUrl('127.0.0.1', ETCD.clientPort)}`, 'endpoint', 'health'], ...probe },
      depends_on: { [VOLUME_OWNER_SERVICE]: { condition: 'service_completed_successfully' } },
      restart: 'unless-stopped',
    },
  };
  for (const member of members) {
    services[member] = {
      image: formatImageReference(env.postgres.ha.image),
      user: `${PATRONI_UID}:${PATRONI_UID}`,
      ...hardened,
      tmpfs: [PATRONI_SOCKET_DIR, '/tmp'],
      volumes: [namedVolume(volumeOf(member), POSTGRES.dataMountPath), `./patroni:${PATRONI_CONFIG_DIR}:ro`],
      environment: {
        PATRONI_NAME: member,
        PATRONI_POSTGRESQL_LISTEN: `0.0.0.0:${POSTGRES.port}`,
        PATRONI_POSTGRESQL_CONNECT_ADDRESS: `${member}:${POSTGRES.port}`,
        PATRONI_RESTAPI_LISTEN: `0.0.0.0:${POSTGRES_HA.apiPort}`,
        PATRONI_RESTAPI_CONNECT_ADDRESS: `${member}:${POSTGRES_HA.apiPort}`,
        PGDATA: POSTGRES.pgdata,
        HOME: '/tmp',
        // For the post-bootstrap script: the app's role and database.
        POSTGRES_USER: env.postgres.username,
        POSTGRES_DB: env.postgres.database,
      },
      env_file: [`${secrets}/postgres.env`, `${secrets}/patroni.env`],
      command: ['sh', `${PATRONI_CONFIG_DIR}/run.sh`, 'patroni', PATRONI_CONFIG_DIR],
      // Patroni hands over (or stops PostgreSQL cleanly) on SIGTERM.
      stop_grace_period: '60s',
      // Patroni's readiness: a running primary, or a replica that streams. bash's /dev/tcp asks its REST API.
      healthcheck: {
        test: ['CMD', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${POSTGRES_HA.apiPort} && printf 'GET /readiness HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '`],
        ...probe,
      },
      depends_on: { [ETCD.name]: { condition: 'service_healthy' } },
      restart: 'unless-stopped',
    };
  }
  return {
    services,
    // HAProxy starts once every member is ready (a running primary, streaming replicas): it starts
    // each server UP until checks say otherwise, so only then does "one server UP" mean the primary.
    haproxyDependsOn: Object.fromEntries(members.map((m) => [m, { condition: 'service_healthy' }])),
    volumes: Object.fromEntries([...members.map((m) => [volumeOf(m), {}]), [etcdVolume, {}]]),
  };
}

/** Files for `dist/<env>/`: `compose/docker-compose.yml` and `compose/haproxy.cfg` (deterministic). */
export function composeFiles(env: EnvironmentConfig, topology: ComposeTopology): Map<string, string> {
  const header = [
    `# docker-compose topology for environment "${env.name}" (web x ${env.web.replicas} behind HAProxy, ${env.postgres.mode === 'ha' ? `PostgreSQL: Patroni x ${env.postgres.ha.members} on etcd, through HAProxy` : 'PostgreSQL'}, Redis).`,
    '# Generated from the environment model (model/environments/): edit the model, not this file.',
    '# Secrets come from env files in $EXPENSE_COMPOSE_SECRETS_DIR (create them: npm run compose -- secrets).',
    ...(env.postgres.mode === 'ha' && env.postgres.backup.enabled ? ['# postgres.backup applies to the Kubernetes deployment only: this topology archives no WAL and takes no backups.'] : []),
    `# Run: npm run compose -- up   (or: docker-compose -f dist/${env.name}/${COMPOSE_DIR}/docker-compose.yml up -d)`,
    '',
  ].join('\n');
  return new Map([
    [`${COMPOSE_DIR}/docker-compose.yml`, header + stringify(topology.file, { lineWidth: 0, version: '1.1', aliasDuplicateObjects: false })],
    [`${COMPOSE_DIR}/haproxy.cfg`, topology.haproxyConfig],
    ...[...topology.patroniFiles].map(([name, content]) => [`${COMPOSE_DIR}/patroni/${name}`, content] as [string, string]),
  ]);
}
