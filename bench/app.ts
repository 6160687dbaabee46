/**
 * `npm run bench:app`: HTTP throughput and latency of the expense tracker on real PostgreSQL 15
 * and Redis 7 (started on loopback by testkit/src/servers).
 *
 * The app runs in child processes (`node --import tsx bench/app.ts --serve`), so autocannon and
 * the servers do not share an event loop. Two parts, each scenario measured for BENCH_DURATION
 * seconds (default 10) after a 2 s warm-up:
 *
 * 1. Cache on vs off (two servers on the same database, BENCH_CONNECTIONS connections, default 10):
 *    - GET /dashboard      (server-rendered page: aggregates, settings, twelve months, recent expenses)
 *    - GET /api/summary    (aggregates and twelve months)
 *    - POST /api/expenses  (insert, cache invalidation, budget check)
 *    against a user with BENCH_ROWS expenses (default 3000) in the current month; prints the
 *    cached/uncached throughput ratio.
 * 2. Many users: BENCH_USERS logged-in users (default 200), each with BENCH_MONTH_ROWS expenses
 *    (default 10 000) in the current month, one connection each, all loading their dashboard on
 *    the cached server; then the same with Redis stopped (a Redis outage: no cache, throttling in
 *    memory), and the outage/normal throughput ratio.
 *
 * Prints requests/s, p50 and p99 latency (ms), errors (connection errors and timeouts after
 * BENCH_TIMEOUT seconds, default 30) and
 * non-2xx answers per scenario. No absolute target is asserted: figures are relative to the
 * baselines of the same run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { sign } from '@fastify/cookie';
import { startPostgres, startRedis, freePort, waitForPort, type RedisServer } from '@expense-tracker/testkit/servers/index';
import { Client } from '../app/test/harness.js';
import { loadConfig } from '../app/src/config.js';
import { migrate } from '../app/src/db.js';
import { startServer } from '../app/src/server.js';
import { SessionStore, SESSION_COOKIE } from '../app/src/sessions.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const ROWS = Number(process.env.BENCH_ROWS ?? 3000);
const USERS = Number(process.env.BENCH_USERS ?? 200);
const MONTH_ROWS = Number(process.env.BENCH_MONTH_ROWS ?? 10_000);
const SESSION_SECRET = 'bench-session-secret-0123456789abcdef';
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

/** Seconds autocannon waits for an answer before counting a timeout (an error). */
const TIMEOUT_SECONDS = Number(process.env.BENCH_TIMEOUT ?? 30);

async function measure(opts: autocannon.Options, connections = CONNECTIONS): Promise<Result> {
  await autocannon({ ...opts, duration: 2, connections, timeout: TIMEOUT_SECONDS }); // warm-up
  const r = await autocannon({ ...opts, duration: DURATION, connections, timeout: TIMEOUT_SECONDS });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

const row = (name: string, mode: string, r: Result) =>
  `${name.padEnd(27)} ${mode.padEnd(13)} ${r.rps.toFixed(0).padStart(6)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${String(r.errors).padStart(7)} ${String(r.non2xx).padStart(8)}`;
const HEADER = `${'scenario'.padEnd(27)} ${'mode'.padEnd(13)}  req/s   p50 ms   p99 ms  errors  non-2xx`;

/** `count` users with `rows` expenses each in the current month, created in SQL, each with a live session cookie. */
async function seedUsers(dbUrl: string, count: number, rows: number): Promise<string[]> {
  const pool = new pg.Pool({ connectionString: dbUrl, max: 4 });
  try {
    const users = await pool.query(
      `INSERT INTO users (email, password_hash, email_verified_at)
       SELECT 'user-' || i || '@bench.example', 'not-a-login-password', now() FROM generate_series(1, $1) AS i RETURNING id`,
      [count],
    );
    await pool.query(
      `INSERT INTO expenses (user_id, amount_cents, currency, category, description, spent_on)
       SELECT u.id, 100 + (i * 37) % 9000, 'USD',
              (ARRAY['Groceries','Rent','Transport','Eating out','Utilities','Leisure','Health','Gifts'])[1 + i % 8],
              'bench row ' || i, date_trunc('month', now())::date + (i % 28)
         FROM unnest($1::uuid[]) AS u(id), generate_series(1, $2) AS i`,
      [users.rows.map((r) => r.id), rows],
    );
    await pool.query('ANALYZE expenses');
    const sessions = new SessionStore(pool);
    const cookies: string[] = [];
    for (const u of users.rows) cookies.push(`${SESSION_COOKIE}=${encodeURIComponent(sign(await sessions.create(u.id), SESSION_SECRET))}`);
    return cookies;
  } finally {
    await pool.end();
  }
}

/** GET /dashboard, one connection per user, each connection with its own user's cookie. */
function dashboardOfEveryone(base: string, cookies: string[]): autocannon.Options {
  let next = 0;
  return {
    url: `${base}/dashboard`,
    setupClient: (client) => client.setHeaders({ cookie: cookies[next++ % cookies.length]! }),
  };
}

async function waitForRedis(base: string, state: 'up' | 'down'): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const r = await fetch(`${base}/readyz`).then((x) => x.json() as Promise<{ redis?: string }>).catch(() => undefined);
    if (r?.redis === state) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`the app did not report redis ${state} within 20 s`);
}

async function main(): Promise<void> {
  console.log(`bench:app  duration ${DURATION}s  connections ${CONNECTIONS}  rows ${ROWS}  users ${USERS} x ${MONTH_ROWS} rows`);
  const pgServer = await startPostgres();
  const redis: RedisServer = await startRedis({ password: 'bench-redis-password' });
  const children: ChildProcess[] = [];
  try {
    const dbUrl = await pgServer.createDatabase('expenses');
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      DATABASE_URL: dbUrl,
      REDIS_URL: redis.url,
      REDIS_PASSWORD: 'bench-redis-password',
      SESSION_SECRET,
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
        env: { ...process.env, ...env, PORT: String(port), METRICS_PORT: String(await freePort()) },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      children.push(child);
      await waitForPort(port, '127.0.0.1', 30_000);
      bases[mode] = `http://127.0.0.1:${port}`;
    }

    // ---- part 1: cache on vs off ------------------------------------------------------------------
    // Sessions live in the shared PostgreSQL, so a login on one server is valid on both.
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

    // ---- part 2: many users, then a Redis outage ------------------------------------------------
    process.stdout.write(`  seeding ${USERS} users x ${MONTH_ROWS} expenses ...`);
    const seeded = Date.now();
    const cookies = await seedUsers(dbUrl, USERS, MONTH_ROWS);
    process.stdout.write(` ${((Date.now() - seeded) / 1000).toFixed(1)} s\n`);
    const probe = await fetch(`${bases.cached}/dashboard`, { headers: { cookie: cookies[0]! } });
    if (probe.status !== 200) throw new Error(`dashboard of a seeded user answered ${probe.status}`);
    // Every user's dashboard once (10 at a time) first, so "Redis up" measures the cached steady
    // state rather than 200 cold caches; the outage run then shows what losing the cache costs.
    process.stdout.write(`  warming ${USERS} dashboards ...`);
    for (let i = 0; i < cookies.length; i += 10) {
      await Promise.all(cookies.slice(i, i + 10).map((c) => fetch(`${bases.cached}/dashboard`, { headers: { cookie: c } }).then((r) => r.arrayBuffer())));
    }
    process.stdout.write(' done\n');
    const many = `GET /dashboard ${USERS} users`;
    process.stdout.write(`  ${many} ...`);
    const normal = await measure(dashboardOfEveryone(bases.cached, cookies), USERS);
    process.stdout.write(` ${normal.rps.toFixed(0)} req/s\n`);
    await redis.stop();
    let outage: Result;
    try {
      await waitForRedis(bases.cached, 'down');
      process.stdout.write(`  ${many}, Redis stopped ...`);
      outage = await measure(dashboardOfEveryone(bases.cached, cookies), USERS);
      process.stdout.write(` ${outage.rps.toFixed(0)} req/s\n`);
    } finally {
      await redis.start();
    }
    await waitForRedis(bases.cached, 'up');

    console.log(`\n${HEADER}`);
    for (const [name, byMode] of Object.entries(results)) {
      for (const mode of modes) console.log(row(name, mode, byMode[mode]));
      console.log(`${name.padEnd(27)} throughput ratio cached/uncached: ${(byMode.cached.rps / byMode.uncached.rps).toFixed(2)}x\n`);
    }
    console.log(row(many, 'Redis up', normal));
    console.log(row(many, 'Redis down', outage));
    console.log(`${many.padEnd(27)} throughput ratio outage/normal: ${(outage.rps / normal.rps).toFixed(2)}x`);
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
