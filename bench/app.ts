/**
 * `npm run bench:app`: HTTP throughput and latency of the expense tracker on real PostgreSQL 15
 * and Redis 7 (started on loopback by testkit/src/servers), with and without the Redis dashboard cache.
 *
 * The app runs in a child process (`node --import tsx bench/app.ts --serve`), so autocannon and
 * the server do not share an event loop. Scenarios, each measured for BENCH_DURATION seconds
 * (default 10) with BENCH_CONNECTIONS connections (default 10) after a 2 s warm-up:
 *   - GET /dashboard      (server-rendered page: aggregates + settings + recent expenses)
 *   - GET /api/summary    (aggregates only)
 *   - POST /api/expenses  (insert, cache invalidation, budget check)
 * against a user with BENCH_ROWS expenses (default 3000) in the current month. Prints requests/s,
 * p50 and p99 latency (ms) for both modes and the cached/uncached throughput ratio.
 * No absolute target is asserted: the figures are relative to the uncached baseline of the same run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { startPostgres, startRedis, freePort, waitForPort } from '@expense-tracker/testkit/servers/index';
import { Client } from '../app/test/harness.js';
import { loadConfig } from '../app/src/config.js';
import { migrate } from '../app/src/db.js';
import { startServer } from '../app/src/server.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const ROWS = Number(process.env.BENCH_ROWS ?? 3000);
const SELF = fileURLToPath(import.meta.url);

async function serve(): Promise<void> {
  const config = loadConfig();
  const server = await startServer(config, { cache: process.argv.includes('--cache=on'), drainDelayMs: 0 });
  process.once('SIGTERM', () => void server.shutdown('SIGTERM').then(() => process.exit(0)));
}

type Mode = 'cached' | 'uncached';

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function measure(opts: autocannon.Options): Promise<Result> {
  await autocannon({ ...opts, duration: 2, connections: CONNECTIONS }); // warm-up
  const r = await autocannon({ ...opts, duration: DURATION, connections: CONNECTIONS });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

async function main(): Promise<void> {
  console.log(`bench:app  duration ${DURATION}s  connections ${CONNECTIONS}  rows ${ROWS}`);
  const pgServer = await startPostgres();
  const redis = await startRedis({ password: 'bench-redis-password' });
  const children: ChildProcess[] = [];
  try {
    const dbUrl = await pgServer.createDatabase('expenses');
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      DATABASE_URL: dbUrl,
      REDIS_URL: redis.url,
      REDIS_PASSWORD: 'bench-redis-password',
      SESSION_SECRET: 'bench-session-secret-0123456789abcdef',
      SENDGRID_API_KEY: 'SG.bench',
      SENDGRID_API_URL: 'http://127.0.0.1:9', // discard port: no alert is triggered (no budget set)
      MAIL_FROM: 'bench@example.com',
      PUBLIC_BASE_URL: 'http://127.0.0.1',
      LOG_LEVEL: 'warn',
    };
    await migrate(loadConfig({ ...env, PORT: '8080' }).postgres);
    const month = new Date().toISOString().slice(0, 7);

    // Both variants run at once (same database and Redis), measured alternately per scenario.
    const modes = ['cached', 'uncached'] as const;
    const bases = {} as Record<Mode, string>;
    for (const mode of modes) {
      const port = await freePort();
      const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--serve', `--cache=${mode === 'cached' ? 'on' : 'off'}`], {
        env: { ...process.env, ...env, PORT: String(port) },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      children.push(child);
      await waitForPort(port, '127.0.0.1', 30_000);
      bases[mode] = `http://127.0.0.1:${port}`;
    }

    // Sessions live in the shared Redis, so a login on one server is valid on both.
    const reader = new Client(bases.cached);
    await reader.signUp('reader@example.com');
    const writers = {} as Record<Mode, Client>;
    for (const mode of modes) {
      writers[mode] = new Client(bases.cached);
      await writers[mode].signUp(`writer-${mode}@example.com`);
    }
    const db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
    await db.query(
      `INSERT INTO expenses (user_id, amount_cents, currency, category, description, spent_on)
       SELECT u.id, 100 + (i * 37) % 9000, 'USD', (ARRAY['Groceries','Rent','Transport','Eating out','Utilities','Leisure','Health','Gifts'])[1 + i % 8],
              'bench row ' || i, date_trunc('month', now())::date + (i % 28)
         FROM users u, generate_series(1, $1) AS i WHERE u.email = 'reader@example.com'`,
      [ROWS],
    );
    await db.query('ANALYZE expenses');
    await db.end();
    const cookie = (c: Client) => [...c.cookies].map(([k, v]) => `${k}=${v}`).join('; ');

    const scenarios: [string, (mode: Mode) => autocannon.Options][] = [
      ['GET /dashboard', (m) => ({ url: `${bases[m]}/dashboard`, headers: { cookie: cookie(reader) } })],
      ['GET /api/summary', (m) => ({ url: `${bases[m]}/api/summary?month=${month}`, headers: { cookie: cookie(reader) } })],
      [
        'POST /api/expenses',
        (m) => ({
          url: `${bases[m]}/api/expenses`,
          method: 'POST',
          headers: { cookie: cookie(writers[m]), 'content-type': 'application/json' },
          body: JSON.stringify({ amountCents: 1234, currency: 'USD', category: 'Bench', date: `${month}-15` }),
        }),
      ],
    ];
    const results: Record<string, Record<Mode, Result>> = {};
    for (const [name, opts] of scenarios) {
      for (const mode of modes) {
        const check = await fetch(opts(mode).url!, { headers: { cookie: cookie(reader) } });
        if (name.startsWith('GET') && check.status !== 200) throw new Error(`${name} (${mode}) answered ${check.status}`);
        process.stdout.write(`  ${name} ${mode} ...`);
        const r = await measure(opts(mode));
        process.stdout.write(` ${r.rps.toFixed(0)} req/s\n`);
        (results[name] ??= {} as Record<Mode, Result>)[mode] = r;
      }
    }

    console.log('\nscenario            mode       req/s   p50 ms   p99 ms  errors  non-2xx');
    for (const [name, byMode] of Object.entries(results)) {
      for (const mode of ['cached', 'uncached'] as const) {
        const r = byMode[mode];
        console.log(
          `${name.padEnd(19)} ${mode.padEnd(9)} ${r.rps.toFixed(0).padStart(6)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${String(r.errors).padStart(7)} ${String(r.non2xx).padStart(8)}`,
        );
      }
      const ratio = byMode.cached.rps / byMode.uncached.rps;
      console.log(`${name.padEnd(19)} throughput ratio cached/uncached: ${ratio.toFixed(2)}x\n`);
    }
  } finally {
    for (const child of children) {
      if (child.exitCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await redis.destroy();
    await pgServer.stop();
  }
}

if (process.argv.includes('--serve')) {
  serve().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
