/**
 * A private Docker engine (Debian's `dockerd` 20.10) for tests, benchmarks and local use.
 *
 * Everything lives under one cache directory (default `~/.cache/expense-tracker/docker`,
 * override with `EXPENSE_DOCKER_DIR`): `daemon.json`, `data/` (data-root: images, layers,
 * volumes survive between runs so built images stay cached), `run/` (exec-root),
 * `dockerd.pid`, `docker.sock` and `dockerd.log`.
 *
 * The daemon settings are the ones recorded in `../shared/MACHINE-NOTES.md` ("A Docker
 * engine"): no iptables/ip-forward/masquerading (the host firewall is never touched), no
 * default bridge (`bridge: none`), overlay2, runc with the cgroupfs driver, ulimits at the
 * machine's hard limits. Containers reach each other and publish ports on 127.0.0.1 only
 * through user-defined bridge networks; builds use `--network host`.
 *
 * Always drive it with `/usr/bin/docker` (the Debian 20.10 CLI, which has BuildKit); a newer
 * `docker` earlier on PATH lacks buildx and fails BuildKit builds.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { execa, type Options, type Result } from 'execa';
import { cacheRoot, logTail, pollUntil, processAlive, withLock } from '../process/index.js';

/** The Docker CLI this project uses: Debian's `docker.io` 20.10 (BuildKit built in). */
export const DOCKER_CLI = '/usr/bin/docker';
/** The daemon binary from Debian's `docker.io`. */
export const DOCKERD = '/usr/sbin/dockerd';
/** docker-compose v1 from Debian (`docker-compose` 1.29.2). */
export const DOCKER_COMPOSE = '/usr/bin/docker-compose';

/**
 * Prefix of every Linux bridge created for this engine's user-defined networks
 * (`com.docker.network.bridge.name`). Interface names are at most 15 bytes.
 */
export const BRIDGE_PREFIX = 'etkd-';

/** Files and directories of one private engine. All paths are absolute. */
export interface EnginePaths {
  /** The cache directory holding everything below. */
  readonly root: string;
  /** `dockerd --config-file` (JSON). */
  readonly config: string;
  /** `data-root`: images, containers, volumes, networks (persistent between runs). */
  readonly dataRoot: string;
  /** `exec-root`: containerd state and sockets (transient). */
  readonly execRoot: string;
  readonly pidfile: string;
  /** Unix socket the daemon listens on; `DOCKER_HOST=unix://<socket>`. */
  readonly socket: string;
  /** Daemon stdout/stderr (appended). */
  readonly log: string;
  /** Docker CLI config directory (`DOCKER_CONFIG`), so the host user's `~/.docker` is never read. */
  readonly cliConfig: string;
  /** Cache of base-image inputs (debootstrap rootfs tarball, npm tarballs, build contexts). */
  readonly baseCache: string;
}

/** Default engine directory: `$EXPENSE_DOCKER_DIR`, else `<cache>/docker` (see `cacheRoot`). */
export function defaultEngineRoot(): string {
  if (process.env.EXPENSE_DOCKER_DIR) return resolve(process.env.EXPENSE_DOCKER_DIR);
  return join(cacheRoot(), 'docker');
}

/**
 * Paths of the engine rooted at `root`.
 * @throws Error when the socket path would exceed the 107-byte `sun_path` limit of Unix sockets.
 */
export function enginePaths(root: string = defaultEngineRoot()): EnginePaths {
  const socket = join(root, 'docker.sock');
  if (Buffer.byteLength(socket) > 107) {
    throw new Error(`EXPENSE_DOCKER_DIR: socket path ${socket} is longer than the 107-byte Unix socket limit; choose a shorter directory`);
  }
  return {
    root,
    config: join(root, 'daemon.json'),
    dataRoot: join(root, 'data'),
    execRoot: join(root, 'run'),
    pidfile: join(root, 'dockerd.pid'),
    socket,
    log: join(root, 'dockerd.log'),
    cliConfig: join(root, 'cli'),
    baseCache: join(root, 'base'),
  };
}

/**
 * The `dockerd` configuration (`daemon.json`) for `paths`; see MACHINE-NOTES.md for why each
 * setting is needed on these machines (no CAP_SYS_RESOURCE: ulimits capped at 20000 files
 * and 32768 processes; cgroup v1 hybrid: cgroupfs driver).
 */
export function daemonConfig(paths: EnginePaths): Record<string, unknown> {
  return {
    'data-root': paths.dataRoot,
    'exec-root': paths.execRoot,
    pidfile: paths.pidfile,
    hosts: [`unix://${paths.socket}`],
    iptables: false,
    ip6tables: false,
    'ip-forward': false,
    'ip-masq': false,
    bridge: 'none',
    'storage-driver': 'overlay2',
    'default-runtime': 'runc',
    'exec-opts': ['native.cgroupdriver=cgroupfs'],
    'default-ulimits': {
      nofile: { Name: 'nofile', Soft: 20000, Hard: 20000 },
      nproc: { Name: 'nproc', Soft: 32768, Hard: 32768 },
    },
    'log-driver': 'json-file',
    'log-opts': { 'max-size': '10m', 'max-file': '2' },
    features: { buildkit: true },
    // Bound the BuildKit cache in data-root (every app source change adds layers).
    builder: { gc: { enabled: true, defaultKeepStorage: '8GB' } },
    'live-restore': false,
    // Seconds dockerd waits for containers to stop on its own shutdown.
    'shutdown-timeout': 15,
  };
}

/** Environment for the Docker CLI and docker-compose pointed at this engine. */
export function dockerEnv(paths: EnginePaths = enginePaths()): Record<string, string> {
  return {
    DOCKER_HOST: `unix://${paths.socket}`,
    DOCKER_CONFIG: paths.cliConfig,
    DOCKER_BUILDKIT: '1',
    COMPOSE_DOCKER_CLI_BUILD: '1',
  };
}

/** Writes a progress line to stderr (`[docker-engine] …`). */
export function progress(message: string): void {
  process.stderr.write(`[docker-engine] ${message}\n`);
}

/**
 * Runs `/usr/bin/docker <args>` against the engine at `paths`.
 * @throws execa's ExecaError (with stderr) when docker exits non-zero, unless `reject: false`.
 */
export function docker(args: readonly string[], options: Options = {}, paths: EnginePaths = enginePaths()): Promise<Result> {
  return execa(DOCKER_CLI, args, { ...options, env: { ...process.env, ...dockerEnv(paths), ...(options.env ?? {}) } }) as Promise<Result>;
}

/** Pings the daemon's API over its socket (`GET /_ping`); resolves true on HTTP 200 within `timeoutMs`. */
export function ping(paths: EnginePaths = enginePaths(), timeoutMs = 2000): Promise<boolean> {
  return new Promise((done) => {
    if (!existsSync(paths.socket)) return done(false);
    const req = request({ socketPath: paths.socket, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(false));
    req.end();
  });
}

/** PID of the running dockerd of this engine, read from its pidfile; undefined when not running. */
export function runningPid(paths: EnginePaths = enginePaths()): number | undefined {
  if (!existsSync(paths.pidfile)) return undefined;
  const pid = Number(readFileSync(paths.pidfile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    // A stale pidfile whose PID was reused by another program must not be signalled.
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return comm === 'dockerd' ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Result of `startEngine`. */
export interface StartResult {
  /** True when this call started the daemon; false when it was already running. */
  readonly started: boolean;
  readonly pid: number;
  /** Seconds from spawn until `/_ping` answered (0 when already running). */
  readonly seconds: number;
}

function withEngineLock<T>(paths: EnginePaths, fn: () => Promise<T>): Promise<T> {
  return withLock('engine', fn, { dir: paths.root, waitMs: 300_000, staleMs: 30_000 });
}

/**
 * Starts the private dockerd unless it is already running (idempotent; safe to call from
 * several processes at once: a lock file serializes them).
 * @param timeoutSeconds how long to wait for the API to answer.
 * @throws Error with the tail of `dockerd.log` when the daemon exits or does not answer in time.
 */
export async function startEngine(paths: EnginePaths = enginePaths(), timeoutSeconds = 60): Promise<StartResult> {
  return withEngineLock(paths, async () => {
    const existing = runningPid(paths);
    if (existing !== undefined && (await ping(paths))) return { started: false, pid: existing, seconds: 0 };
    if (existing !== undefined) {
      // Running but not answering: starting up in another process, or wedged. Wait for it.
      if (await pollUntil(() => ping(paths), { timeoutMs: 30_000, intervalMs: 100 })) return { started: false, pid: existing, seconds: 0 };
      throw new Error(`dockerd (pid ${existing}) is running but ${paths.socket} does not answer; see ${paths.log}`);
    }
    for (const dir of [paths.root, paths.dataRoot, paths.execRoot, paths.cliConfig]) mkdirSync(dir, { recursive: true });
    writeFileSync(paths.config, `${JSON.stringify(daemonConfig(paths), null, 2)}\n`);
    progress(`starting dockerd (data-root ${paths.dataRoot})`);
    const began = Date.now();
    // `nice`: image builds and containers run inside this daemon and share 2 cores with others.
    const child = execa('nice', ['-n', '10', DOCKERD, '--config-file', paths.config], {
      detached: true,
      cleanup: false,
      stdin: 'ignore',
      stdout: { file: paths.log, append: true },
      stderr: { file: paths.log, append: true },
      reject: false,
    });
    let exited = false;
    void child.then(() => {
      exited = true;
    });
    child.unref();
    const up = await pollUntil(async () => exited || (await ping(paths)), { timeoutMs: timeoutSeconds * 1000, intervalMs: 100 });
    if (!up || exited) {
      if (!exited && child.pid) process.kill(child.pid, 'SIGTERM');
      throw new Error(`dockerd did not start within ${timeoutSeconds} s:\n${logTail(paths.log)}`);
    }
    const seconds = (Date.now() - began) / 1000;
    progress(`dockerd up in ${seconds.toFixed(1)} s (pid ${child.pid}); DOCKER_HOST=unix://${paths.socket}`);
    return { started: true, pid: child.pid!, seconds };
  });
}

/** Names of the Linux bridges behind this engine's user-defined bridge networks. */
async function engineBridges(paths: EnginePaths): Promise<string[]> {
  const ls = await docker(['network', 'ls', '--quiet', '--filter', 'driver=bridge'], { reject: false }, paths);
  const ids = String(ls.stdout).split('\n').filter(Boolean);
  if (ls.exitCode !== 0 || ids.length === 0) return [];
  const inspect = await docker(
    ['network', 'inspect', '--format', '{{.Id}} {{index .Options "com.docker.network.bridge.name"}}', ...ids],
    { reject: false },
    paths,
  );
  return String(inspect.stdout)
    .split('\n')
    .map((line) => line.trim().split(' '))
    .map(([id, name]) => (name && name !== '<no' ? name : `br-${id.slice(0, 12)}`))
    .filter(Boolean);
}

/**
 * A lease on the engine: while any lease is held the daemon keeps running. Tests and benchmarks
 * take one per process (`acquireEngine`), `npm run docker-engine -- up` takes the `cli` lease.
 */
export interface EngineLease {
  readonly paths: EnginePaths;
  /** Lease file name under `<root>/leases/`: a PID, or `cli`. */
  readonly holder: string;
  /** Whether this acquisition started the daemon. */
  readonly started: boolean;
}

function leaseDir(paths: EnginePaths): string {
  return join(paths.root, 'leases');
}

/** Lease holders whose process is still alive (`cli` always counts). Dead PIDs' leases are deleted. */
function liveLeases(paths: EnginePaths): string[] {
  const dir = leaseDir(paths);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((holder) => {
    if (holder === 'cli') return true;
    const pid = Number(holder);
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) return true;
    rmSync(join(dir, holder), { force: true });
    return false;
  });
}

/**
 * Starts the engine if needed and records a lease for `holder` (default: this process's PID).
 * @throws Error as `startEngine`.
 */
export async function acquireEngine(paths: EnginePaths = enginePaths(), holder = String(process.pid)): Promise<EngineLease> {
  const r = await startEngine(paths);
  mkdirSync(leaseDir(paths), { recursive: true });
  writeFileSync(join(leaseDir(paths), holder), `${new Date().toISOString()}\n`);
  return { paths, holder, started: r.started };
}

/**
 * Drops `lease`; stops the engine when no other live lease remains (so concurrent test runs
 * sharing the engine directory never pull the daemon from under each other).
 * @returns whether the engine was stopped.
 */
export async function releaseEngine(lease: EngineLease): Promise<boolean> {
  rmSync(join(leaseDir(lease.paths), lease.holder), { force: true });
  if (liveLeases(lease.paths).length > 0) return false;
  const r = await stopEngine(lease.paths);
  // Another process may have taken a lease while we were stopping; it restarts the daemon itself.
  return r.stopped;
}

/** Result of `stopEngine`. */
export interface StopResult {
  /** True when a running daemon was stopped. */
  readonly stopped: boolean;
  /** Bridges deleted after the daemon exited. */
  readonly removedBridges: readonly string[];
  /** Mount points under the engine directory unmounted after the daemon exited. */
  readonly removedMounts: readonly string[];
}

/**
 * Stops the private dockerd by the PID in its pidfile (SIGTERM; SIGKILL after
 * `timeoutSeconds`), then deletes the bridges of its networks and any mount it left under
 * the engine directory. Images, volumes and networks stay in data-root for the next start.
 */
export async function stopEngine(paths: EnginePaths = enginePaths(), timeoutSeconds = 60): Promise<StopResult> {
  return withEngineLock(paths, async () => {
    rmSync(join(leaseDir(paths), 'cli'), { force: true });
    const pid = runningPid(paths);
    const bridges = pid !== undefined && (await ping(paths)) ? await engineBridges(paths) : [];
    if (pid !== undefined) {
      progress(`stopping dockerd (pid ${pid})`);
      process.kill(pid, 'SIGTERM');
      if (!(await pollUntil(() => !processAlive(pid), { timeoutMs: timeoutSeconds * 1000, intervalMs: 100 }))) {
        progress(`dockerd did not exit within ${timeoutSeconds} s; sending SIGKILL`);
        process.kill(pid, 'SIGKILL');
        await pollUntil(() => !processAlive(pid), { timeoutMs: 10_000, intervalMs: 100 });
      }
    }
    const removedBridges: string[] = [];
    for (const name of bridges) {
      const r = await execa('ip', ['link', 'delete', name, 'type', 'bridge'], { reject: false });
      if (r.exitCode === 0) removedBridges.push(name);
    }
    const removedMounts = await unmountUnder(paths.root);
    return { stopped: pid !== undefined, removedBridges, removedMounts };
  });
}

/** Lazily unmounts every mount point below `dir` (deepest first); returns the mount points. */
async function unmountUnder(dir: string): Promise<string[]> {
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(`${dir}/`)))
    .map((p) => p.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
  const done: string[] = [];
  for (const p of points) {
    const r = await execa('umount', ['-l', p], { reject: false });
    if (r.exitCode === 0) done.push(p);
  }
  return done;
}
