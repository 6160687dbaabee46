/**
 * The monitoring stack for `npm run local`'s processes, on loopback: postgres_exporter and
 * redis_exporter (Debian `prometheus-postgres-exporter`, `prometheus-redis-exporter`) in front
 * of the local PostgreSQL and Redis, and a real Prometheus (Debian `prometheus`) scraping the
 * app instances, HAProxy and the exporters with the scrape config and the rules generated from
 * the environment model. Every process is a child of the caller; `stop()` ends them all.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { buildRuleGroups, renderRuleFile, type RuleGroup } from './rules.js';
import { renderScrapeConfig } from './scrape-config.js';
import type { MonitoringSettings } from '@expense-tracker/model/monitoring';
import { JOBS, type MonitoredTopology, redisPasswordMapScript } from './targets.js';

/** Binaries (override with environment variables of the same name). */
const BIN = {
  prometheus: process.env.PROMETHEUS ?? 'prometheus',
  postgresExporter: process.env.POSTGRES_EXPORTER ?? 'prometheus-postgres-exporter',
  redisExporter: process.env.REDIS_EXPORTER ?? 'prometheus-redis-exporter',
};

/** Options for `startLocalMonitoring`. */
export interface LocalMonitoringOptions {
  readonly environment: EnvironmentConfig;
  readonly settings: MonitoringSettings;
  /** What the rules describe (see `monitoredTopology` in charts/monitoring.ts). */
  readonly topology: MonitoredTopology;
  /** `host:port` of each app instance's metrics endpoint. */
  readonly web: readonly string[];
  /** `host:port` of HAProxy's stats/metrics listener. */
  readonly haproxy?: string;
  /** `postgresql://user[:password]@host:port/database` of the app's database. */
  readonly databaseUrl: string;
  /** The app's Redis: `redis://host:port` and its password. */
  readonly redis: { readonly url: string; readonly password?: string };
  /** Directory for the config, rules, credentials and the TSDB (created). */
  readonly workDir: string;
  /**
   * Prometheus port on 127.0.0.1.
   * @default a free port
   */
  readonly port?: number;
  /**
   * Seconds between scrapes and rule evaluations.
   * @default settings.prometheus.scrapeIntervalSeconds
   */
  readonly scrapeIntervalSeconds?: number;
  /**
   * Receives each process's output lines.
   * @default discard
   */
  readonly log?: (source: string, line: string) => void;
}

/** One target as Prometheus reports it. */
export interface ActiveTarget {
  readonly job: string;
  readonly instance: string;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
}

/** A running local monitoring stack. */
export interface LocalMonitoring {
  /** Prometheus: `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The generated prometheus.yml and rule groups. */
  readonly config: string;
  readonly ruleGroups: readonly RuleGroup[];
  /** `host:port` of the exporters. */
  readonly exporters: { readonly postgres: string; readonly redis: string };
  /** Instant query; the result vector as `{ metric, value }`. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** Active targets. */
  targets(): Promise<ActiveTarget[]>;
  /** Every metric name in the TSDB and every metric family the targets described (HELP/TYPE). */
  metricNames(): Promise<{ series: Set<string>; metadata: Set<string> }>;
  /** Firing and pending alerts. */
  alerts(): Promise<Array<{ labels: Record<string, string>; state: string }>>;
  /** Stops Prometheus and the exporters; safe to call twice. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

class Child {
  private readonly proc: ChildProcess;
  private tail = '';
  readonly exited: Promise<number | string>;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv,
    log: (source: string, line: string) => void,
  ) {
    this.proc = spawn(command, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (d: Buffer) => {
      const text = d.toString();
      this.tail = (this.tail + text).slice(-4000);
      for (const line of text.split('\n')) if (line.trim()) log(name, line);
    };
    this.proc.stdout!.on('data', onData);
    this.proc.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
      this.proc.once('error', (e) => {
        this.tail += `\n${e.message}`;
        resolve('spawn error');
      });
    });
  }

  get output(): string {
    return this.tail;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

async function waitFor(what: string, child: Child, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (!child.running) throw new Error(`${child.name} exited while waiting for ${what}:\n${child.output}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${child.output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ok = async (url: string) => (await fetch(url)).status === 200;

/**
 * Starts postgres_exporter, redis_exporter and Prometheus and waits until each answers.
 * On any failure everything already started is stopped before the error propagates.
 * @throws Error naming the process that failed, with its output
 */
export async function startLocalMonitoring(options: LocalMonitoringOptions): Promise<LocalMonitoring> {
  const log = options.log ?? (() => undefined);
  const children: Child[] = [];
  const stop = async () => {
    for (const c of [...children].reverse()) await c.stop();
  };
  try {
    await mkdir(join(options.workDir, 'data'), { recursive: true });
    const db = new URL(options.databaseUrl);
    const credentials = join(options.workDir, 'postgres-credentials');
    await mkdir(credentials, { recursive: true, mode: 0o700 });
    await writeFile(join(credentials, 'username'), decodeURIComponent(db.username), { mode: 0o600 });
    await writeFile(join(credentials, 'password'), decodeURIComponent(db.password), { mode: 0o600 });

    // The same flags and variables as the chart's exporter Deployments (charts/monitoring.ts).
    const pgPort = await freePort();
    const pgExporter = new Child(
      JOBS.postgres,
      BIN.postgresExporter,
      [`--web.listen-address=127.0.0.1:${pgPort}`, '--disable-settings-metrics'],
      {
        PATH: process.env.PATH,
        DATA_SOURCE_URI: `${db.hostname}:${db.port || 5432}${db.pathname}?sslmode=disable`,
        DATA_SOURCE_USER_FILE: join(credentials, 'username'),
        DATA_SOURCE_PASS_FILE: join(credentials, 'password'),
      },
      log,
    );
    children.push(pgExporter);
    // The password as the chart delivers it: a Secret file, turned into the exporter's JSON map
    // by the init container's script.
    const redisArgs: string[] = [];
    if (options.redis.password !== undefined) {
      const secret = join(options.workDir, 'redis-credentials');
      await mkdir(secret, { recursive: true, mode: 0o700 });
      await writeFile(join(secret, 'password'), options.redis.password, { mode: 0o600 });
      const map = join(secret, 'password-map.json');
      await promisify(execFile)('sh', ['-c', redisPasswordMapScript(options.redis.url, join(secret, 'password'), map)]);
      redisArgs.push(`--redis.password-file=${map}`);
    }
    const redisPort = await freePort();
    const redisExporter = new Child(
      JOBS.redis,
      BIN.redisExporter,
      redisArgs,
      { PATH: process.env.PATH, REDIS_ADDR: options.redis.url, REDIS_EXPORTER_WEB_LISTEN_ADDRESS: `127.0.0.1:${redisPort}` },
      log,
    );
    children.push(redisExporter);
    await waitFor('postgres_exporter', pgExporter, () => ok(`http://127.0.0.1:${pgPort}/metrics`));
    await waitFor('redis_exporter', redisExporter, () => ok(`http://127.0.0.1:${redisPort}/metrics`));

    const ruleGroups = buildRuleGroups(options.settings, options.topology);
    await writeFile(join(options.workDir, 'rules.yml'), renderRuleFile(ruleGroups));
    const config = renderScrapeConfig({
      namespace: options.environment.namespace,
      scrapeIntervalSeconds: options.scrapeIntervalSeconds ?? options.settings.prometheus.scrapeIntervalSeconds,
      ruleFiles: [join(options.workDir, 'rules.yml')],
      targets: {
        [JOBS.web]: options.web,
        [JOBS.haproxy]: options.haproxy ? [options.haproxy] : [],
        [JOBS.postgres]: [`127.0.0.1:${pgPort}`],
        [JOBS.redis]: [`127.0.0.1:${redisPort}`],
      },
    });
    await writeFile(join(options.workDir, 'prometheus.yml'), config);
    const port = options.port ?? (await freePort());
    const url = `http://127.0.0.1:${port}`;
    const prometheus = new Child(
      'prometheus',
      BIN.prometheus,
      [
        `--config.file=${join(options.workDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(options.workDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1d',
      ],
      { PATH: process.env.PATH },
      log,
    );
    children.push(prometheus);
    await waitFor('prometheus', prometheus, () => ok(`${url}/-/ready`), 60_000);

    const api = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${url}${path}`);
      const body = (await res.json()) as { status: string; data: T; error?: string };
      if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
      return body.data;
    };
    return {
      url,
      config,
      ruleGroups,
      exporters: { postgres: `127.0.0.1:${pgPort}`, redis: `127.0.0.1:${redisPort}` },
      async query(expr) {
        const data = await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
        return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
      },
      async targets() {
        const data = await api<{ activeTargets: Array<{ labels: Record<string, string>; health: ActiveTarget['health']; lastError: string }> }>('/api/v1/targets?state=active');
        return data.activeTargets.map((t) => ({ job: t.labels.job, instance: t.labels.instance, health: t.health, lastError: t.lastError }));
      },
      async metricNames() {
        const series = new Set(await api<string[]>('/api/v1/label/__name__/values'));
        const metadata = new Set(Object.keys(await api<Record<string, unknown>>('/api/v1/metadata')));
        return { series, metadata };
      },
      async alerts() {
        const data = await api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('/api/v1/alerts');
        return data.alerts;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
