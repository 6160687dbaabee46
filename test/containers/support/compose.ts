/**
 * One docker-compose 1.29 project of a test file on the private engine: the compose file
 * `npm run synth` wrote, the Secret files it mounts, HAProxy's published ports on free loopback
 * ports, and its own Linux bridge. Projects are named `<prefix><pid>`; those of killed runs are
 * removed when the next run of the same suite starts.
 */
import { join } from 'node:path';
import { execa, type Result } from 'execa';
import { DOCKER_COMPOSE, dockerEnv } from '@expense-tracker/tools/docker-engine/engine';
import { freePort } from '@expense-tracker/tools/process/ports';
import { HAPROXY } from '@expense-tracker/model/components';
import { HaproxyMetrics, parsePrometheusText } from '../../../scripts/local/haproxy.js';
import { ensureComposeSecrets } from '../../../scripts/docker-compose/secrets.js';
import { d, pidAlive, type TestEngine } from './docker.js';

/** Options for {@link composeProject}. */
export interface ComposeProjectOptions {
  /** Start of the project name (lowercase letters); the test process's PID follows. */
  readonly prefix: string;
  /** The synthesized `docker-compose.yml`. */
  readonly file: string;
  /** One letter naming the project's Linux bridge `etkd-<bridgeTag><pid base36>`, unique per suite. */
  readonly bridgeTag: string;
}

/** A compose project bound to one test run. */
export interface ComposeProject {
  /** `--project-name` (also the `com.docker.compose.project` label). */
  readonly name: string;
  /** HAProxy's public port on 127.0.0.1 (`HAPROXY_PORT`). */
  readonly port: number;
  /** HAProxy's stats and Prometheus port on 127.0.0.1 (`HAPROXY_STATS_PORT`). */
  readonly statsPort: number;
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  /** Runs docker-compose on this project; never rejects (read `exitCode`, `all` has both streams). */
  compose(args: readonly string[]): Promise<Result>;
  /** IDs of the service's containers (stopped ones too with `all`). */
  containers(service: string, all?: boolean): Promise<string[]>;
  /** @throws Error when the service has not exactly one container (running or stopped). */
  containerOf(service: string): Promise<string>;
  /** One scrape of HAProxy's Prometheus exporter on `statsPort` (5 s timeout). */
  haproxyMetrics(): Promise<HaproxyMetrics>;
  /** `down --volumes --remove-orphans`: containers, networks and named volumes. */
  down(): Promise<void>;
}

/** Removes containers, networks and volumes of `<prefix><pid>` projects whose PID is gone. */
async function removeStaleProjects(prefix: string): Promise<void> {
  const stale = (p: string) => p.startsWith(prefix) && /^\d+$/.test(p.slice(prefix.length)) && !pidAlive(Number(p.slice(prefix.length)));
  const list = async (kind: string[], fmt: string) =>
    (await d([...kind, '--filter', 'label=com.docker.compose.project', '--format', fmt])).stdout
      .split('\n')
      .map((l) => l.trim().split(' '))
      .filter(([id, p]) => id && p && stale(p))
      .map(([id]) => id!);
  const containers = await list(['ps', '-a'], '{{.ID}} {{.Label "com.docker.compose.project"}}');
  if (containers.length) await d(['rm', '--force', ...containers], { reject: false });
  for (const n of await list(['network', 'ls'], '{{.ID}} {{.Label "com.docker.compose.project"}}')) await d(['network', 'rm', n], { reject: false });
  for (const v of await list(['volume', 'ls'], '{{.Name}} {{.Label "com.docker.compose.project"}}')) await d(['volume', 'rm', '--force', v], { reject: false });
}

/**
 * Prepares a compose project for `engine`: removes the suite's stale projects, writes the Secret
 * files (`EXPENSE_COMPOSE_SECRETS_DIR` in the engine's scratch dir) and picks free ports.
 * Nothing is started; call `compose(['up', '--detach'])`.
 */
export async function composeProject(engine: TestEngine, options: ComposeProjectOptions): Promise<ComposeProject> {
  await removeStaleProjects(options.prefix);
  const name = `${options.prefix}${engine.run}`;
  const secretsDir = join(engine.scratch, `compose-secrets-${options.prefix}`);
  ensureComposeSecrets(secretsDir);
  const port = await freePort();
  const statsPort = await freePort();
  const env = {
    ...process.env,
    ...dockerEnv(engine.paths),
    EXPENSE_COMPOSE_SECRETS_DIR: secretsDir,
    HAPROXY_PORT: String(port),
    HAPROXY_STATS_PORT: String(statsPort),
    COMPOSE_BRIDGE_NAME: `etkd-${options.bridgeTag}${Number(engine.run).toString(36)}`.slice(0, 15),
  };
  const compose = (args: readonly string[]) => execa(DOCKER_COMPOSE, ['--project-name', name, '--file', options.file, ...args], { env, all: true, reject: false });
  const containers = async (service: string, all = false) =>
    (await d(['ps', ...(all ? ['-a'] : []), '--quiet', '--filter', `label=com.docker.compose.project=${name}`, '--filter', `label=com.docker.compose.service=${service}`])).stdout
      .split('\n')
      .filter(Boolean);
  return {
    name,
    port,
    statsPort,
    baseUrl: `http://127.0.0.1:${port}`,
    compose,
    containers,
    async containerOf(service) {
      const ids = await containers(service, true);
      if (ids.length !== 1) throw new Error(`service ${service}: ${ids.length} containers`);
      return ids[0]!;
    },
    async haproxyMetrics() {
      const r = await fetch(`http://127.0.0.1:${statsPort}${HAPROXY.metricsPath}`, { signal: AbortSignal.timeout(5000) });
      if (r.status !== 200) throw new Error(`GET ${HAPROXY.metricsPath}: ${r.status}`);
      return new HaproxyMetrics(parsePrometheusText(await r.text()));
    },
    async down() {
      await compose(['down', '--volumes', '--remove-orphans', '--timeout', '10']);
    },
  };
}
