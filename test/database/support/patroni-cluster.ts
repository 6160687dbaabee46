/**
 * Patroni members as processes on loopback, with a real kube-apiserver as their DCS.
 *
 * Each member is what one pod of the `PostgresHa` StatefulSet runs, minus the container:
 * the same `patroni.yaml` (charts/patroni-config.ts) and `pgbackrest.conf`
 * (charts/pgbackrest-config.ts), the same per-member environment variables, and a
 * ServiceAccount token bound to the same least-privilege Role. A Pod object per member exists
 * in the API server (kwok keeps it Running on a fake node) because Patroni keeps member state
 * in Pod annotations and the role in a Pod label, which the `postgres` Services select on.
 * PostgreSQL and Patroni run as the `postgres` OS user (PostgreSQL refuses root).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { patroniConfig, type PatroniConfigSettings } from '../../../charts/patroni-config.js';
import { renderPgbackrestConfig, type S3Repository } from '../../../charts/pgbackrest-config.js';
import { freePort, waitForPort } from '@expense-tracker/tools/process/ports';
import { ensurePatroni } from './python-tools.js';

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** One member: its name (= Pod name), ports and files. */
export interface Member {
  readonly name: string;
  readonly pgPort: number;
  readonly apiPort: number;
  readonly dir: string;
  /** Directory Patroni reads its configuration files from (`patroni <dir>`). */
  readonly configDir: string;
  readonly pgbackrestConfig: string;
  process?: ChildProcess;
}

export interface LoopbackClusterOptions {
  /** Directory for every member's files (owned by `postgres`). */
  readonly dir: string;
  readonly namespace: string;
  readonly scope: string;
  readonly podLabels: Record<string, string>;
  readonly members: number;
  /** Kubeconfig Patroni uses (a ServiceAccount token; readable by `postgres`). */
  readonly kubeconfig: string;
  readonly kubeContext: string;
  readonly s3: { readonly repository: S3Repository; readonly accessKey: string; readonly secretKey: string };
  readonly stanza: string;
  readonly timing?: PatroniConfigSettings['timing'];
  readonly superuserPassword: string;
  readonly replicationPassword: string;
}

const postgresIds = async () => {
  const uid = Number((await execa('id', ['-u', 'postgres'])).stdout);
  const gid = Number((await execa('id', ['-g', 'postgres'])).stdout);
  return { uid, gid };
};

/** Runs a command as `postgres` with `env` added (runuser keeps no environment by itself). */
export function asPostgres(command: string, args: readonly string[], env: Record<string, string>): [string, string[]] {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return ['runuser', ['-u', 'postgres', '--', 'env', ...assignments, command, ...args]];
}

/** PID of the member's postmaster (first line of postmaster.pid), if it runs. */
export function postmasterPid(m: Member): number | undefined {
  const file = join(m.dir, 'data', 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export class LoopbackPatroniCluster {
  readonly members: Member[] = [];
  private patroniBin = '';
  private patronictlBin = '';
  private ids = { uid: -1, gid: -1 };

  constructor(readonly options: LoopbackClusterOptions) {}

  /** Writes every member's configuration (ports picked now); call `start` next. */
  async prepare(): Promise<void> {
    const bins = await ensurePatroni();
    this.patroniBin = bins.patroni;
    this.patronictlBin = bins.patronictl;
    const { uid, gid } = await postgresIds();
    this.ids = { uid, gid };
    const o = this.options;
    mkdirSync(o.dir, { recursive: true });
    chownSync(o.dir, uid, gid);
    for (let i = 0; i < o.members; i++) {
      const name = `${o.scope}-${i}`;
      const dir = join(o.dir, name);
      const configDir = join(dir, 'patroni');
      for (const d of [dir, configDir, join(dir, 'run'), join(dir, 'pgbackrest')]) {
        mkdirSync(d, { recursive: true, mode: 0o700 });
        chownSync(d, uid, gid);
      }
      const member: Member = { name, pgPort: await freePort(), apiPort: await freePort(), dir, configDir, pgbackrestConfig: join(dir, 'pgbackrest.conf') };
      this.writeConfig(member);
      this.members.push(member);
    }
  }

  /** (Re)writes the member's patroni.yaml, loopback overlay and pgbackrest.conf. */
  private writeConfig(m: Member): void {
    const o = this.options;
    const config = patroniConfig({
      scope: o.scope,
      namespace: o.namespace,
      podLabels: o.podLabels,
      dataDir: join(m.dir, 'data'),
      binDir: PG_BIN,
      socketDir: join(m.dir, 'run'),
      pgpassFile: join(m.dir, 'pgpass'),
      timing: o.timing,
      pgbackrest: { stanza: o.stanza },
    });
    writeFileSync(join(m.configDir, 'patroni.yaml'), stringify(config));
    // Only on loopback: which kubeconfig context to use (in a pod Patroni uses its ServiceAccount).
    writeFileSync(join(m.configDir, 'zz-loopback.yaml'), stringify({ kubernetes: { context: o.kubeContext } }));
    writeFileSync(
      m.pgbackrestConfig,
      renderPgbackrestConfig({
        stanza: o.stanza,
        repository: o.s3.repository,
        retention: { full: 2, diff: 6 },
        pgPath: join(m.dir, 'data'),
        pgPort: m.pgPort,
        pgSocketPath: join(m.dir, 'run'),
        workPath: join(m.dir, 'pgbackrest'),
      }),
      { mode: 0o644 },
    );
  }

  /** The environment a pod gives Patroni (Downward API + Secrets), with loopback addresses. */
  env(m: Member): Record<string, string> {
    const o = this.options;
    return {
      PATRONI_NAME: m.name,
      PATRONI_KUBERNETES_NAMESPACE: o.namespace,
      PATRONI_KUBERNETES_POD_IP: '127.0.0.1',
      PATRONI_POSTGRESQL_LISTEN: `127.0.0.1:${m.pgPort}`,
      PATRONI_POSTGRESQL_CONNECT_ADDRESS: `127.0.0.1:${m.pgPort}`,
      PATRONI_RESTAPI_LISTEN: `127.0.0.1:${m.apiPort}`,
      PATRONI_RESTAPI_CONNECT_ADDRESS: `127.0.0.1:${m.apiPort}`,
      PATRONI_SUPERUSER_PASSWORD: o.superuserPassword,
      PATRONI_REPLICATION_PASSWORD: o.replicationPassword,
      PGBACKREST_CONFIG: m.pgbackrestConfig,
      PGBACKREST_REPO1_S3_KEY: o.s3.accessKey,
      PGBACKREST_REPO1_S3_KEY_SECRET: o.s3.secretKey,
      KUBECONFIG: o.kubeconfig,
      HOME: m.dir,
      PATH: `${PG_BIN}:/usr/bin:/bin`,
    };
  }

  /**
   * Starts Patroni for one member as `postgres` (its log goes to `<member dir>/patroni.log`).
   * Spawned with the user's IDs directly, not through runuser: runuser answers SIGTERM by
   * SIGKILLing its child two seconds later, which would cut Patroni's graceful shutdown short.
   */
  startMember(m: Member): void {
    const log = openSync(join(m.dir, 'patroni.log'), 'a');
    m.process = spawn(this.patroniBin, [m.configDir], { stdio: ['ignore', log, log], detached: true, uid: this.ids.uid, gid: this.ids.gid, env: this.env(m) });
    closeSync(log);
  }

  async start(): Promise<void> {
    for (const m of this.members) this.startMember(m);
    await Promise.all(this.members.map((m) => waitForPort(m.apiPort, '127.0.0.1', 60_000)));
  }

  /**
   * Stops one member as the kubelet stops a deleted pod: SIGTERM to Patroni, which shuts
   * PostgreSQL down and, on the leader, releases the lock so a replica takes over at once.
   * `kill` SIGKILLs Patroni and PostgreSQL instead (a node lost): the lock then expires after `ttl`.
   */
  async stopMember(m: Member, how: 'terminate' | 'kill' = 'terminate'): Promise<void> {
    const child = m.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    const group = -child.pid!;
    if (how === 'kill') {
      // Patroni starts the postmaster in a session of its own: kill it by the PID in postmaster.pid.
      const postmaster = postmasterPid(m);
      process.kill(group, 'SIGKILL');
      if (postmaster) {
        try {
          process.kill(postmaster, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    } else {
      process.kill(group, 'SIGTERM');
    }
    const timer = setTimeout(() => {
      try {
        process.kill(group, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 60_000);
    await exited;
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => this.stopMember(m)));
  }

  /**
   * SIGKILLs every member's Patroni and PostgreSQL at once, without waiting: for
   * `process.on('exit')` handlers, when the test process ends before `stop()` ran (a killed vitest).
   */
  killNow(): void {
    for (const m of this.members) {
      const child = m.process;
      const pids = [postmasterPid(m), child && child.exitCode === null && child.signalCode === null ? -child.pid! : undefined];
      for (const pid of pids) {
        try {
          if (pid) process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  }

  /** `patronictl list -f json` through the first running member's configuration. */
  async list(): Promise<{ Member: string; Role: string; State: string; 'Lag in MB'?: number | string; TL?: number }[]> {
    const m = this.members.find((x) => x.process && x.process.exitCode === null) ?? this.members[0];
    const [cmd, args] = asPostgres(this.patronictlBin, ['-c', m.configDir, 'list', '-f', 'json'], this.env(m));
    const r = await execa(cmd, args);
    return JSON.parse(r.stdout);
  }

  /** Runs patronictl with the given arguments as member `m`. */
  async patronictl(m: Member, argv: readonly string[]): Promise<string> {
    const [cmd, args] = asPostgres(this.patronictlBin, ['-c', m.configDir, ...argv], this.env(m));
    return (await execa(cmd, args)).stdout;
  }

  /** Runs pgbackrest as `postgres` next to member `m`. */
  async pgbackrest(m: Member, argv: readonly string[]): Promise<string> {
    const [cmd, args] = asPostgres('pgbackrest', [`--stanza=${this.options.stanza}`, ...argv], this.env(m));
    const r = await execa(cmd, args, { all: true, reject: false });
    if (r.exitCode !== 0) throw new Error(`pgbackrest ${argv.join(' ')} failed on ${m.name} (exit ${r.exitCode}):\n${r.all}`);
    return r.stdout;
  }

  member(name: string): Member {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  /** Writes an extra configuration fragment into every member's config directory. */
  writeFragment(file: string, fragment: Record<string, unknown>): void {
    for (const m of this.members) writeFileSync(join(m.configDir, file), stringify(fragment));
  }
}
