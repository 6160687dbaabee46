/**
 * Test harness: real PostgreSQL and Redis (testkit/src/servers), a local SendGrid stub that records
 * requests, and the app built with `buildApp` listening on 127.0.0.1 on a free port (its metrics
 * listener on another). One stack per test file; `stop()` tears everything down (call it in
 * afterAll, it tolerates partial starts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startPostgres, startRedis, type PostgresServer, type RedisServer } from '@expense-tracker/testkit/servers/index';
import { loadConfig, type Config } from '../src/config.js';
import { createPool, migrate } from '../src/db.js';
import { createRedis, connectRedis } from '../src/redis.js';
import { createSendgridMailer } from '../src/mailer.js';
import { createLogger } from '../src/logger.js';
import { buildApp, type AppOptions, type BuiltApp } from '../src/app.js';
import { buildMetricsServer } from '../src/metrics-server.js';
import type pg from 'pg';
import type { Redis } from 'ioredis';

export interface RecordedMail {
  method: string;
  url: string;
  authorization: string | undefined;
  body: any;
}

/** A stand-in for `POST /v3/mail/send`: records every request; answers 202 unless told to fail. */
export class SendgridStub {
  readonly requests: RecordedMail[] = [];
  /** Status codes to answer with, consumed one per request; empty means 202. */
  readonly failWith: number[] = [];
  private server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      let body: unknown = data;
      try {
        body = JSON.parse(data);
      } catch {
        /* keep raw */
      }
      this.requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      const status = this.failWith.shift() ?? 202;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status >= 400 ? JSON.stringify({ errors: [{ message: 'stub failure' }] }) : '');
    });
  });
  url = '';
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    await new Promise((r) => this.server.close(r));
  }
  /** Sends to `to` (including ones the stub failed), in order. */
  sentTo(to: string): RecordedMail[] {
    return this.requests.filter((r) => r.body?.personalizations?.[0]?.to?.[0]?.email === to);
  }
  /** Waits for a mail to `to` whose subject matches (the newest); returns its text part. */
  async waitFor(to: string, subject: RegExp, timeoutMs = 10_000): Promise<string> {
    const mail = await eventually(`mail "${subject.source}" to ${to}`, () => this.sentTo(to).reverse().find((m) => subject.test(m.body?.subject)), timeoutMs);
    return mail!.body.content.find((c: { type: string }) => c.type === 'text/plain').value as string;
  }
  /** Path and query of the first link under `base` in the newest mail to `to` matching `subject`. */
  async linkFor(to: string, subject: RegExp, base: string): Promise<string> {
    const text = await this.waitFor(to, subject);
    const start = text.indexOf(`${base}/`);
    if (start < 0) throw new Error(`no link to ${base} in: ${text}`);
    return text.slice(start + base.length).split(/\s/)[0]!;
  }
}

export interface Stack {
  pg: PostgresServer;
  redis: RedisServer;
  sendgrid: SendgridStub;
  dbUrl: string;
  env: Record<string, string>;
  config: Config;
  pool: pg.Pool;
  redisClient: Redis;
  built: BuiltApp;
  baseUrl: string;
  /** Base URL of the separate /metrics listener. */
  metricsUrl: string;
  stop(): Promise<void>;
}

/** Teardown steps; `run()` runs them newest first, once, ignoring failures (it tolerates partial starts). */
export class Cleanups {
  private readonly steps: (() => Promise<unknown>)[] = [];
  push(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }
  readonly run = async (): Promise<void> => {
    for (const step of this.steps.splice(0).reverse()) await step().catch(() => undefined);
  };
}

/**
 * PostgreSQL with database `expenses` migrated to the latest schema, and Redis requiring
 * `redisPassword`, both on loopback; their teardown goes onto `cleanups`.
 */
export async function startDataServers(cleanups: Cleanups, redisPassword: string): Promise<{ pg: PostgresServer; redis: RedisServer; dbUrl: string }> {
  const pgServer = await startPostgres();
  cleanups.push(() => pgServer.stop());
  const redis = await startRedis({ password: redisPassword });
  cleanups.push(() => redis.destroy());
  const dbUrl = await pgServer.createDatabase('expenses');
  await migrate({ connectionString: dbUrl });
  return { pg: pgServer, redis, dbUrl };
}

export const SESSION_SECRET = 'test-session-secret-0123456789abcdef';
export const REDIS_PASSWORD = 'test-redis-password';

/** Starts Postgres, Redis (with a password), the SendGrid stub, migrates, builds and listens. */
export async function startStack(options: AppOptions & { env?: Record<string, string> } = {}): Promise<Stack> {
  const cleanups = new Cleanups();
  const stop = cleanups.run;
  try {
    const { pg: pgServer, redis, dbUrl } = await startDataServers(cleanups, REDIS_PASSWORD);
    const sendgrid = new SendgridStub();
    await sendgrid.start();
    cleanups.push(() => sendgrid.stop());
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      PORT: '8080', // validated only; the harness listens on a free port
      DATABASE_URL: dbUrl,
      REDIS_URL: redis.url,
      REDIS_PASSWORD,
      SESSION_SECRET,
      SENDGRID_API_KEY: 'SG.test-key',
      SENDGRID_API_URL: sendgrid.url,
      MAIL_FROM: 'alerts@expense.test',
      PUBLIC_BASE_URL: 'http://127.0.0.1',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ADMIN_EMAIL: 'boss@example.com',
      ...options.env,
    };
    const config = loadConfig(env);
    const logger = createLogger(config.logLevel);
    const pool = createPool(config.postgres);
    cleanups.push(() => pool.end());
    const redisClient = createRedis(config.redis, logger);
    cleanups.push(async () => redisClient.disconnect());
    await connectRedis(redisClient, logger);
    const mailer = createSendgridMailer(config.sendgrid, config.mailFrom);
    const built = await buildApp({ config, pool, redis: redisClient, mailer, logger }, options);
    cleanups.push(() => built.app.close());
    await built.app.listen({ port: 0, host: '127.0.0.1' });
    const metricsServer = buildMetricsServer(built.metrics, logger);
    cleanups.push(() => metricsServer.close());
    await metricsServer.listen({ port: 0, host: '127.0.0.1' });
    const baseUrl = `http://127.0.0.1:${(built.app.server.address() as AddressInfo).port}`;
    const metricsUrl = `http://127.0.0.1:${(metricsServer.server.address() as AddressInfo).port}`;
    return { pg: pgServer, redis, sendgrid, dbUrl, env, config, pool, redisClient, built, baseUrl, metricsUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/**
 * A cookie-keeping HTTP client (redirects not followed), like a browser without JavaScript.
 * `address` is sent as `X-Forwarded-For`: the app trusts loopback proxies, so each Client is a
 * different visitor for the per-address throttles, as real users are.
 */
export class Client {
  readonly cookies = new Map<string, string>();
  constructor(
    readonly baseUrl: string,
    /** Client address (default: a random one in 198.18.0.0/15, the benchmarking range, so every Client is its own visitor). */
    readonly address = `198.${18 + Math.floor(Math.random() * 2)}.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}`,
  ) {}

  async request(method: string, path: string, opts: { json?: unknown; form?: Record<string, string>; headers?: Record<string, string>; body?: string } = {}): Promise<Res> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.address) headers['x-forwarded-for'] ??= this.address;
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined = opts.body;
    if (opts.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(opts.form).toString();
    }
    const res = await fetch(this.baseUrl + path, { method, headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }
  get(path: string) {
    return this.request('GET', path);
  }
  /** GETs a page and returns the CSRF token of its first form. */
  async csrf(path: string): Promise<string> {
    const res = await this.get(path);
    const m = /name="_csrf" value="([^"]+)"/.exec(res.text);
    if (!m) throw new Error(`no CSRF token on ${path} (status ${res.status})`);
    return m[1]!;
  }
  /** Submits a form the way the page does (fresh CSRF token from `pagePath`). */
  async submit(pagePath: string, action: string, form: Record<string, string>): Promise<Res> {
    const token = await this.csrf(pagePath);
    return this.request('POST', action, { form: { ...form, _csrf: token } });
  }
  async register(email: string, password = 'correct horse battery'): Promise<Res> {
    return this.submit('/register', '/register', { email, password });
  }
  async login(email: string, password = 'correct horse battery'): Promise<Res> {
    return this.submit('/login', '/login', { email, password });
  }
  /**
   * Registers and logs in; throws unless both redirect as expected. With `verify` (the stack's
   * SendGrid stub), also follows the emailed verification link.
   */
  async signUp(email: string, password = 'correct horse battery', verify?: SendgridStub): Promise<void> {
    const r = await this.register(email, password);
    if (r.status !== 303) throw new Error(`register ${email}: ${r.status} ${r.text.slice(0, 200)}`);
    const l = await this.login(email, password);
    if (l.status !== 303 || l.headers.get('location') !== '/dashboard') throw new Error(`login ${email}: ${l.status} ${l.text.slice(0, 200)}`);
    if (verify) await this.verifyEmail(verify, email);
  }
  /** Follows the newest verification link mailed to `email` (GET shows a button, POST confirms). */
  async verifyEmail(sendgrid: SendgridStub, email: string): Promise<Res> {
    const link = await sendgrid.linkFor(email, /Confirm your email/, 'http://127.0.0.1');
    const token = new URL(link, this.baseUrl).searchParams.get('token')!;
    const res = await this.submit(link, '/verify-email', { token });
    if (res.status !== 303) throw new Error(`verify ${email}: ${res.status} ${res.text.slice(0, 200)}`);
    return res;
  }
}

/** Polls `fn` until it returns truthy; throws with `what` after `timeoutMs` milliseconds. */
export async function eventually<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An expense body for the JSON API. */
export function expense(overrides: Record<string, unknown> = {}) {
  return { amountCents: 1250, currency: 'USD', category: 'Groceries', description: 'weekly shop', date: '2026-03-14', ...overrides };
}
