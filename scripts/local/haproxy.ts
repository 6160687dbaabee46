/**
 * Running a real HAProxy on this machine: configuration checks (`haproxy -c`), a supervised
 * master-worker process on loopback, and typed reads of its Prometheus exporter.
 *
 * Used by `npm run local`, the integration tests and `bench/haproxy.ts`. The binary is
 * Debian's `/usr/sbin/haproxy` (2.6, built with USE_PROMEX); override with `HAPROXY_BIN`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HAPROXY } from '@expense-tracker/model/components';

const run = promisify(execFile);

/**
 * HAProxy binary: `HAPROXY_BIN`, else Debian's `/usr/sbin/haproxy` (not on a non-root user's
 * PATH on Debian), else `haproxy` from PATH.
 */
export const HAPROXY_BIN = process.env.HAPROXY_BIN ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy');

/** Result of `haproxy -c`. */
/**
 * Calls `onLine` for every complete line a child process writes to stdout or stderr
 * (UTF-8, without the trailing newline).
 */
export function onOutputLines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  }
}

export interface ConfigCheck {
  /** True when HAProxy accepted the file without warnings (`-dW`: warnings are errors). */
  readonly valid: boolean;
  /** Combined stdout and stderr of the check. */
  readonly output: string;
}

/**
 * Validates a configuration file with `haproxy -dW -c -f <path>` (zero-warning mode).
 * @throws Error only when the binary cannot be run (ENOENT: install Debian's `haproxy`)
 */
export async function checkHaproxyConfig(path: string): Promise<ConfigCheck> {
  try {
    const { stdout, stderr } = await run(HAPROXY_BIN, ['-dW', '-c', '-f', path]);
    return { valid: true, output: `${stdout}${stderr}` };
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`${HAPROXY_BIN} not found: install Debian's haproxy package or set HAPROXY_BIN`);
    return { valid: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** One sample of a Prometheus text exposition. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * Parses Prometheus text format 0.0.4 (what HAProxy's exporter serves): `# HELP`/`# TYPE`
 * lines are skipped, label values unescaped.
 * @throws Error naming the line for a malformed sample
 */
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`malformed metrics line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}

/** Server states HAProxy's exporter reports (`haproxy_server_status{state=…}`). */
export type ServerState = 'UP' | 'DOWN' | 'MAINT' | 'DRAIN' | 'NOLB';

/** Typed view of one scrape. */
export class HaproxyMetrics {
  constructor(readonly samples: readonly MetricSample[]) {}

  /** Sum of every sample of `name` whose labels include `match`. */
  sum(name: string, match: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
      .reduce((a, s) => a + s.value, 0);
  }

  /** Current state of `backend/server`, or undefined if the server is unknown. */
  serverState(backend: string, server: string): ServerState | undefined {
    const s = this.samples.find(
      (x) => x.name === 'haproxy_server_status' && x.labels.proxy === backend && x.labels.server === server && x.value === 1,
    );
    return s?.labels.state as ServerState | undefined;
  }

  /** Servers of `backend` in `state`, sorted by name. */
  serversInState(backend: string, state: ServerState): string[] {
    return this.samples
      .filter((x) => x.name === 'haproxy_server_status' && x.labels.proxy === backend && x.labels.state === state && x.value === 1)
      .map((x) => x.labels.server!)
      .sort();
  }

  /** HTTP requests the backend processed (`haproxy_backend_http_requests_total`). */
  backendRequests(backend: string): number {
    return this.sum('haproxy_backend_http_requests_total', { proxy: backend });
  }

  /** HTTP responses a server returned, all status classes (`haproxy_server_http_responses_total`). */
  serverResponses(backend: string, server: string): number {
    return this.sum('haproxy_server_http_responses_total', { proxy: backend, server });
  }
}

/** Options for `startHaproxy`. */
export interface StartHaproxyOptions {
  /** Full `haproxy.cfg` text (e.g. from `renderHaproxyConfig(env, { kind: 'local', … })`). */
  readonly config: string;
  /** Where the cfg is written (`<workDir>/haproxy.cfg`); created if missing. */
  readonly workDir: string;
  /** Port of the public frontend (to wait for the monitor URI). */
  readonly port: number;
  /** Port of the stats/metrics frontend. */
  readonly statsPort: number;
  /**
   * Receives every log line HAProxy writes (stdout/stderr).
   * @default keep only the last 200 lines in memory (see `logs()`)
   */
  readonly onLog?: (line: string) => void;
  /**
   * Milliseconds to wait for the monitor URI to answer 200.
   * @default 10_000
   */
  readonly startTimeoutMs?: number;
}

/** A running HAProxy master-worker process. */
export interface HaproxyProcess {
  readonly pid: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `http://127.0.0.1:<statsPort>` */
  readonly statsUrl: string;
  readonly configPath: string;
  /** Scrapes the Prometheus exporter. */
  metrics(): Promise<HaproxyMetrics>;
  /**
   * Polls until `backend/server` reports `state`.
   * @throws Error naming the server, the wanted and the last seen state after `timeoutMs` (default 30 s)
   */
  waitForServerState(backend: string, server: string, state: ServerState, timeoutMs?: number): Promise<void>;
  /**
   * Scrapes until `until` holds and returns that scrape. HAProxy counts a request when its
   * stream ends, which can be just after the client has read the response, so a counter read
   * right after the last response may still lag by one.
   * @throws Error naming `what` when `until` does not hold within `timeoutMs` (default 5 s)
   */
  waitForMetrics(what: string, until: (m: HaproxyMetrics) => boolean, timeoutMs?: number): Promise<HaproxyMetrics>;
  /** Last log lines. */
  logs(): string;
  /**
   * Soft stop (SIGUSR1: finish open connections), SIGKILL after `timeoutMs` (default 10 s).
   * Resolves when the process has exited; safe to call twice.
   */
  stop(timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or signal) when the process exits on its own or is stopped. */
  readonly exited: Promise<number | string>;
}

async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, describe: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Writes the cfg, checks it (`haproxy -dW -c`), starts `haproxy -W -db -f <cfg>` and waits
 * until the frontend's monitor URI answers 200.
 * @throws Error with HAProxy's output when the check fails, the process exits, or it does not become ready in time
 */
export async function startHaproxy(options: StartHaproxyOptions): Promise<HaproxyProcess> {
  await mkdir(options.workDir, { recursive: true });
  const configPath = join(options.workDir, 'haproxy.cfg');
  await writeFile(configPath, options.config);
  const check = await checkHaproxyConfig(configPath);
  if (!check.valid) throw new Error(`haproxy rejected ${configPath}:\n${check.output}`);

  const tail: string[] = [];
  const onLine = (line: string) => {
    if (options.onLog) options.onLog(line);
    tail.push(line);
    if (tail.length > 200) tail.shift();
  };
  // -W master-worker, -db foreground (no daemon), as the official image's entrypoint does.
  const child: ChildProcess = spawn(HAPROXY_BIN, ['-W', '-db', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  onOutputLines(child, onLine);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${options.port}`;
  const statsUrl = `http://127.0.0.1:${options.statsPort}`;
  try {
    await poll(`haproxy ${url}${HAPROXY.monitorUri}`, options.startTimeoutMs ?? 10_000, async () => {
      if (gone) throw Object.assign(new Error('exited'), { fatal: true });
      const r = await fetch(`${url}${HAPROXY.monitorUri}`);
      await r.arrayBuffer();
      return r.status === 200 ? true : undefined;
    });
    if (gone) throw new Error('exited');
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`haproxy did not start (${(error as Error).message}):\n${tail.join('\n')}`);
  }

  const metrics = async () => {
    const r = await fetch(`${statsUrl}${HAPROXY.metricsPath}`);
    if (r.status !== 200) throw new Error(`GET ${HAPROXY.metricsPath}: ${r.status}`);
    return new HaproxyMetrics(parsePrometheusText(await r.text()));
  };
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid!,
    url,
    statsUrl,
    configPath,
    metrics,
    async waitForServerState(backend, server, state, timeoutMs = 30_000) {
      let last: string | undefined;
      await poll(
        `${backend}/${server} to be ${state}`,
        timeoutMs,
        async () => {
          last = (await metrics()).serverState(backend, server);
          return last === state ? true : undefined;
        },
        () => ` (last state: ${last ?? 'unknown'})`,
      );
    },
    waitForMetrics(what, until, timeoutMs = 5_000) {
      return poll(what, timeoutMs, async () => {
        const m = await metrics();
        return until(m) ? m : undefined;
      });
    },
    logs: () => tail.join('\n'),
    exited,
    stop(timeoutMs = 10_000) {
      stopping ??= (async () => {
        if (gone) return;
        child.kill('SIGUSR1');
        const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(t);
      })();
      return stopping;
    },
  };
}
