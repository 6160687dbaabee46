/**
 * `npm run bench:haproxy [-- --connections 50] [--duration 10] [--path /] [--warmup 3]`
 *
 * The same load (autocannon, `--connections` concurrent keep-alive connections for `--duration`
 * seconds, GET `--path`) against, in one run on this machine:
 *   1. one app instance directly (the baseline),
 *   2. HAProxy in front of that one instance,
 *   3. HAProxy in front of two instances,
 * all on loopback, real app on real PostgreSQL and Redis (throwaway), HAProxy configured by
 * `renderHaproxyConfig(env 'local', { kind: 'local' })`. Prints throughput (requests/s) and
 * latency p50/p99 (ms) for each, and the ratios against the baseline and between 2 and 1
 * instances. Each run is preceded by a warm-up of `--warmup` seconds that is not counted.
 * The load generator shares the machine's cores with the servers: compare the ratios, not the
 * absolute figures, across machines.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { startLocalTopology, type LocalTopology } from '../scripts/local/topology.js';
import { startHaproxy, type HaproxyProcess } from '../scripts/local/haproxy.js';
import { renderHaproxyConfig } from '../charts/haproxy-config.js';
import { freePort } from '@expense-tracker/testkit/process/ports';
import { startPostgres, type PostgresServer } from '@expense-tracker/testkit/servers/postgres';

interface Figures {
  readonly name: string;
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly total: number;
  readonly failed: number;
}

function intFlag(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

function load(url: string, connections: number, duration: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) =>
    autocannon({ url, connections, duration, timeout: 10 }, (err, result) => (err ? reject(err) : resolve(result))),
  );
}

async function measure(name: string, url: string, connections: number, duration: number, warmup: number): Promise<Figures> {
  process.stdout.write(`bench:haproxy: ${name}: warm-up ${warmup} s, then ${duration} s at ${connections} connections… `);
  if (warmup > 0) await load(url, connections, warmup);
  const r = await load(url, connections, duration);
  const failed = r.errors + r.timeouts + r.non2xx;
  console.log(`${Math.round(r.requests.average)} req/s`);
  return { name, requestsPerSecond: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total, failed };
}

async function main(): Promise<number> {
  let flags;
  try {
    const { values } = parseArgs({
      options: {
        connections: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        path: { type: 'string', default: '/' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log('usage: npm run bench:haproxy -- [--connections 50] [--duration 10] [--warmup 3] [--path /]');
      return 0;
    }
    if (!values.path!.startsWith('/')) throw new Error(`--path must start with "/", got "${values.path}"`);
    flags = {
      connections: intFlag('connections', values.connections, 50, 1, 1000),
      duration: intFlag('duration', values.duration, 10, 1, 600),
      warmup: intFlag('warmup', values.warmup, 3, 0, 60),
      path: values.path!,
    };
  } catch (error) {
    console.error(`bench:haproxy: ${(error as Error).message}`);
    return 2;
  }

  const workDir = await mkdtemp(join(tmpdir(), 'bench-haproxy-'));
  const environment = loadEnvironment('local');
  let topology: LocalTopology | undefined;
  let single: HaproxyProcess | undefined;
  let postgres: PostgresServer | undefined;
  try {
    console.log('bench:haproxy: starting PostgreSQL, Redis, 2 app instances and HAProxy…');
    postgres = await startPostgres();
    const database = await postgres.createDatabase(environment.postgres.database);
    topology = await startLocalTopology({ environment, instances: 2, workDir: join(workDir, 'two'), postgres: { kind: 'external', url: database } });
    const [web1] = topology.instances;
    const port = await freePort();
    const statsPort = await freePort();
    single = await startHaproxy({
      config: renderHaproxyConfig(environment, {
        kind: 'local',
        instances: [{ port: web1.port }],
        port,
        statsPort,
        statsSocket: join(workDir, 'one', 'admin.sock'),
      }),
      workDir: join(workDir, 'one'),
      port,
      statsPort,
    });

    const { connections, duration, warmup, path } = flags;
    const results = [
      await measure('direct, 1 instance', `${web1.url}${path}`, connections, duration, warmup),
      await measure('HAProxy, 1 instance', `${single.url}${path}`, connections, duration, warmup),
      await measure('HAProxy, 2 instances', `${topology.url}${path}`, connections, duration, warmup),
    ];
    const [direct, one, two] = results;

    console.log(`\nGET ${path}, ${connections} connections, ${duration} s each, ${availableParallelism()} CPU(s) shared by load generator and servers\n`);
    console.log(`${'target'.padEnd(24)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'requests'.padStart(11)}${'failed'.padStart(9)}`);
    for (const r of results) {
      console.log(
        `${r.name.padEnd(24)}${r.requestsPerSecond.toFixed(0).padStart(10)}${r.p50.toFixed(1).padStart(10)}${r.p99.toFixed(1).padStart(10)}${String(r.total).padStart(11)}${String(r.failed).padStart(9)}`,
      );
    }
    const ratio = (a: number, b: number) => (b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`);
    console.log('\nratios (throughput; p50; p99):');
    console.log(`  HAProxy 1 instance  / direct:             ${ratio(one.requestsPerSecond, direct.requestsPerSecond)}; ${ratio(one.p50, direct.p50)}; ${ratio(one.p99, direct.p99)}`);
    console.log(`  HAProxy 2 instances / direct:             ${ratio(two.requestsPerSecond, direct.requestsPerSecond)}; ${ratio(two.p50, direct.p50)}; ${ratio(two.p99, direct.p99)}`);
    console.log(`  HAProxy 2 instances / HAProxy 1 instance: ${ratio(two.requestsPerSecond, one.requestsPerSecond)}; ${ratio(two.p50, one.p50)}; ${ratio(two.p99, one.p99)}`);
    if (results.some((r) => r.failed > 0)) {
      console.error('bench:haproxy: some requests failed (see "failed"); figures are not comparable');
      return 1;
    }
    return 0;
  } finally {
    await single?.stop();
    await topology?.stop();
    await postgres?.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
