/**
 * `npm run bench:haproxy [-- --rounds 3] [--connections 50] [--duration 10] [--warmup 3] [--path /dashboard] [--rows 300]`
 *
 * The logged-in dashboard (GET /dashboard with a session cookie, a user with `--rows` expenses
 * this month) served by the real app on real PostgreSQL and Redis, all on loopback:
 *   1. one app instance directly (the baseline),
 *   2. HAProxy in front of that same instance,
 *   3. HAProxy in front of two instances (for information),
 * HAProxy configured by `renderHaproxyConfig(env 'local', { kind: 'local' })`, exactly what
 * `npm run local` runs. Cases are measured in `--rounds` rounds, alternating which goes first, each
 * run `--warmup` s untimed then `--duration` s at `--connections` keep-alive connections. The load
 * generator is autocannon in its own process, so it does not share an event loop with this one,
 * which reads the children's logs.
 *
 * Prints min / median / max requests/s of each case, the ratio of the medians, the p99 HAProxy
 * adds (median p99 through HAProxy − median p99 direct), errors, and the CPU seconds each process
 * used per 1,000 requests (from /proc). Goals: HAProxy/direct ≥ 0.9, p99 added ≤ 5 ms, 0 errors.
 * The machine's cores are shared by the load generator, HAProxy and the app: compare ratios, not
 * absolute figures, across machines. Exit 1 when a goal is not met, 2 on bad usage.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import pg from 'pg';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { freePort } from '@expense-tracker/tools/process/ports';
import { startPostgres, type PostgresServer } from '@expense-tracker/testkit/servers/postgres';
import { Client } from '../app/test/harness.js';
import { renderHaproxyConfig } from '../charts/haproxy-config.js';
import { startHaproxy, type HaproxyProcess } from '../scripts/local/haproxy.js';
import { startLocalTopology, type LocalTopology } from '../scripts/local/topology.js';
import { loadAverage, summarize } from './lib/measure.js';
import { intFlag } from '../scripts/lib/flags.js';

const root = new URL('..', import.meta.url).pathname;
const AUTOCANNON = join(root, 'node_modules/autocannon/autocannon.js');
const USAGE = 'usage: npm run bench:haproxy -- [--rounds 3] [--connections 50] [--duration 10] [--warmup 3] [--path /dashboard] [--rows 300]';
const CLOCK_TICKS_PER_SECOND = 100; // Linux USER_HZ, the unit of /proc/<pid>/stat times

interface Run {
  readonly requestsPerSecond: number;
  readonly requests: number;
  readonly p50: number;
  readonly p99: number;
  readonly failed: number;
  /** CPU seconds used during the run, by process label. */
  readonly cpu: Record<string, number>;
  /** HAProxy only: new connections to the servers and reused idle ones during the run. */
  connections?: { opened: number; reused: number };
}

/** PID of the process listening on 127.0.0.1:`port` (for HAProxy, its worker). */
function listenerPid(port: number): number {
  const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
  const m = /pid=([0-9]+)/.exec(out);
  if (!m) throw new Error(`no process listens on port ${port}`);
  return Number(m[1]);
}

/** User + system CPU seconds a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** autocannon in its own process; CPU of `watched` processes (and the load generator) during the run. */
async function load(url: string, cookie: string, connections: number, duration: number, watched: Record<string, number>): Promise<Run> {
  const child = execa(process.execPath, [AUTOCANNON, '--json', '-c', String(connections), '-d', String(duration), '-t', '10', '-H', `cookie=${cookie}`, url], { reject: false });
  const before = Object.fromEntries(Object.entries(watched).map(([k, pid]) => [k, cpuSeconds(pid)]));
  let loadGeneratorCpu = 0;
  const sampler = setInterval(() => {
    try {
      loadGeneratorCpu = cpuSeconds(child.pid!);
    } catch {
      // exited between samples: keep the last reading
    }
  }, 200);
  const result = await child;
  clearInterval(sampler);
  if (result.exitCode !== 0) throw new Error(`autocannon exited ${result.exitCode}: ${String(result.stderr).slice(-500)}`);
  const r = JSON.parse(String(result.stdout));
  const cpu = Object.fromEntries(Object.entries(watched).map(([k, pid]) => [k, cpuSeconds(pid) - before[k]]));
  cpu['load generator'] = loadGeneratorCpu;
  return { requestsPerSecond: r.requests.average, requests: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, failed: r.errors + r.timeouts + r.non2xx, cpu };
}

async function main(): Promise<number> {
  let flags;
  try {
    const { values } = parseArgs({
      options: {
        rounds: { type: 'string' },
        connections: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        rows: { type: 'string' },
        path: { type: 'string', default: '/dashboard' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (!values.path!.startsWith('/')) throw new Error(`--path must start with "/", got "${values.path}"`);
    flags = {
      rounds: intFlag('rounds', values.rounds, 3, 1, 20),
      connections: intFlag('connections', values.connections, 50, 1, 1000),
      duration: intFlag('duration', values.duration, 10, 1, 600),
      warmup: intFlag('warmup', values.warmup, 3, 0, 60),
      rows: intFlag('rows', values.rows, 300, 0, 100_000),
      path: values.path!,
    };
  } catch (error) {
    console.error(`bench:haproxy: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }

  const workDir = await mkdtemp(join(tmpdir(), 'bench-haproxy-'));
  const environment = loadEnvironment('local');
  let topology: LocalTopology | undefined;
  let single: HaproxyProcess | undefined;
  let postgres: PostgresServer | undefined;
  try {
    console.log(`bench:haproxy: ${availableParallelism()} CPUs, load average ${loadAverage()}; starting PostgreSQL, Redis, 2 app instances and HAProxy…`);
    postgres = await startPostgres();
    const database = await postgres.createDatabase(environment.postgres.database);
    topology = await startLocalTopology({ environment, instances: 2, workDir: join(workDir, 'two'), postgres: { kind: 'external', url: database } });
    const [web1, web2] = topology.instances;
    const port = await freePort();
    const statsPort = await freePort();
    const config = renderHaproxyConfig(environment, { kind: 'local', instances: [{ port: web1.port }], port, statsPort, statsSocket: join(workDir, 'one', 'admin.sock') });
    single = await startHaproxy({ config, workDir: join(workDir, 'one'), port, statsPort });

    // A logged-in user with expenses this month; the session lives in Redis, valid on every path.
    const user = new Client(web1.url);
    await user.signUp('bench@example.com');
    const db = new pg.Client({ connectionString: database });
    await db.connect();
    await db.query(
      `INSERT INTO expenses (user_id, amount_cents, currency, category, description, spent_on)
       SELECT u.id, 100 + (i * 37) % 9000, 'USD', (ARRAY['Groceries','Rent','Transport','Eating out','Utilities','Leisure'])[1 + i % 6],
              'bench row ' || i, date_trunc('month', now())::date + (i % 28)
         FROM users u, generate_series(1, $1::int) AS i WHERE u.email = 'bench@example.com'`,
      [flags.rows],
    );
    await db.end();
    const cookie = [...user.cookies].map(([k, v]) => `${k}=${v}`).join('; ');

    const app1 = listenerPid(web1.port);
    const app2 = listenerPid(web2.port);
    const cases = {
      direct: { url: `${web1.url}${flags.path}`, watched: { app: app1 }, haproxy: undefined },
      haproxy: { url: `${single.url}${flags.path}`, watched: { app: app1, haproxy: listenerPid(port) }, haproxy: single },
      haproxy2: { url: `${topology.url}${flags.path}`, watched: { app: app1, app2, haproxy: listenerPid(Number(new URL(topology.url).port)) }, haproxy: topology.haproxy },
    } as const;
    // Connection mode to the servers: how many requests reused an idle server connection.
    const serverConnections = async (h: HaproxyProcess | undefined) => {
      if (!h) return undefined;
      const m = await h.metrics();
      return { opened: m.sum('haproxy_server_connection_attempts_total', { proxy: 'web' }), reused: m.sum('haproxy_server_connection_reuses_total', { proxy: 'web' }) };
    };
    for (const [name, c] of Object.entries(cases)) {
      const r = await fetch(c.url, { headers: { cookie }, redirect: 'manual' });
      const body = await r.text();
      if (r.status !== 200) throw new Error(`${name}: GET ${flags.path} answered ${r.status} (not logged in?)`);
      if (name === 'direct') console.log(`bench:haproxy: GET ${flags.path}: ${body.length} bytes, ${flags.rows} expenses`);
    }

    const runs: Record<keyof typeof cases, Run[]> = { direct: [], haproxy: [], haproxy2: [] };
    for (let round = 1; round <= flags.rounds; round++) {
      const order: (keyof typeof cases)[] = round % 2 === 1 ? ['direct', 'haproxy', 'haproxy2'] : ['haproxy', 'direct', 'haproxy2'];
      for (const name of order) {
        const c = cases[name];
        process.stdout.write(`bench:haproxy: round ${round}/${flags.rounds} ${name}: `);
        if (flags.warmup > 0) await load(c.url, cookie, flags.connections, flags.warmup, c.watched);
        const before = await serverConnections(c.haproxy);
        const r = await load(c.url, cookie, flags.connections, flags.duration, c.watched);
        const after = await serverConnections(c.haproxy);
        if (before && after) r.connections = { opened: after.opened - before.opened, reused: after.reused - before.reused };
        runs[name].push(r);
        console.log(`${r.requestsPerSecond.toFixed(0)} req/s, p99 ${r.p99} ms, ${r.failed} failed`);
      }
    }

    const label = { direct: 'direct, 1 instance', haproxy: 'HAProxy, 1 instance', haproxy2: 'HAProxy, 2 instances' };
    console.log(`\nGET ${flags.path} (logged in), ${flags.connections} connections, ${flags.duration} s × ${flags.rounds} rounds, ${availableParallelism()} CPUs shared by load generator, HAProxy and app; load average ${loadAverage()}\n`);
    console.log(`${'case'.padEnd(22)}${'req/s min / median / max'.padStart(28)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'failed'.padStart(8)}   CPU s per 1,000 requests; server connections opened per 1,000 requests`);
    for (const name of Object.keys(cases) as (keyof typeof cases)[]) {
      const rps = summarize(runs[name].map((r) => r.requestsPerSecond));
      const p50 = summarize(runs[name].map((r) => r.p50)).median;
      const p99 = summarize(runs[name].map((r) => r.p99)).median;
      const failed = runs[name].reduce((a, r) => a + r.failed, 0);
      const requests = runs[name].reduce((a, r) => a + r.requests, 0);
      const cpu = Object.keys(runs[name][0].cpu)
        .map((k) => `${k} ${((runs[name].reduce((a, r) => a + r.cpu[k], 0) / requests) * 1000).toFixed(2)}`)
        .join(', ');
      const opened = runs[name].reduce((a, r) => a + (r.connections?.opened ?? 0), 0);
      const conns = runs[name][0].connections ? `; ${((opened / requests) * 1000).toFixed(1)} opened` : '';
      console.log(`${label[name].padEnd(22)}${`${rps.min.toFixed(0)} / ${rps.median.toFixed(0)} / ${rps.max.toFixed(0)}`.padStart(28)}${p50.toFixed(1).padStart(9)}${p99.toFixed(1).padStart(9)}${String(failed).padStart(8)}   ${cpu}${conns}`);
    }
    const median = (name: keyof typeof cases, f: (r: Run) => number) => summarize(runs[name].map(f)).median;
    const ratio = median('haproxy', (r) => r.requestsPerSecond) / median('direct', (r) => r.requestsPerSecond);
    const p99Added = median('haproxy', (r) => r.p99) - median('direct', (r) => r.p99);
    const failed = Object.values(runs).flat().reduce((a, r) => a + r.failed, 0);
    const goals = [
      [`throughput HAProxy / direct (medians) ${ratio.toFixed(2)}`, 'goal ≥ 0.9', ratio >= 0.9],
      [`p99 added by HAProxy ${p99Added.toFixed(1)} ms`, 'goal ≤ 5 ms', p99Added <= 5],
      [`failed requests ${failed}`, 'goal 0', failed === 0],
    ] as const;
    console.log('');
    for (const [what, goal, met] of goals) console.log(`${what.padEnd(48)} ${goal}: ${met ? 'met' : 'NOT met'}`);
    console.log(`HAProxy 2 instances / 1 instance (medians): ${(median('haproxy2', (r) => r.requestsPerSecond) / median('haproxy', (r) => r.requestsPerSecond)).toFixed(2)}`);
    return goals.every(([, , met]) => met) ? 0 : 1;
  } finally {
    await single?.stop();
    await topology?.stop();
    await postgres?.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
