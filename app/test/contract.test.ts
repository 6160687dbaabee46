/**
 * The app against the deploy contract (model/app-contract.ts, which the app imports too):
 * environment variable names, ports, probe and metrics routes, the image's user, workdir and
 * commands, and the readiness contract as the app, the chart's probes and HAProxy's checks each
 * implement it (a change on any side that breaks the agreement fails here).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { sign } from '@fastify/cookie';
import { describe, expect, it } from 'vitest';
import {
  APP_CONFIG_KEYS,
  APP_GID,
  APP_LISTEN_ENV,
  APP_METRICS_PORT,
  APP_METRICS_PORT_NAME,
  APP_IMPORT_WORKER_COMMAND,
  APP_MIGRATE_COMMAND,
  APP_PORT,
  APP_PORT_NAME,
  APP_SECRET_ENV,
  APP_SECRET_FILE_ENV,
  APP_SERVER_COMMAND,
  APP_UID,
  APP_WORKDIR,
  DRAINING_STATUS,
  HEALTH_PATH,
  IMPORT_CONFIG_KEYS,
  IMPORT_STAGING_PATH,
  IMPORT_WORKER_PORT,
  METRICS_PATH,
  READY_CHECK_TIMEOUT_MS,
  READY_PATH,
  READY_STATUS,
  UNAVAILABLE_RETRY_AFTER_SECONDS,
} from '@expense-tracker/model/app-contract';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { App } from 'cdk8s';
import { synthesizeEnvironment, type KubeObject } from '../../charts/synthesize.js';
import { ExpenseTrackerChart } from '../../charts/expense-tracker-chart.js';
import { IMPORT_ENV_KEYS } from '../src/imports/config.js';
import { ENV_KEYS, envSchema, loadConfig, SECRET_KEYS } from '../src/config.js';
import { runCli } from '../src/cli.js';
import { buildApp } from '../src/app.js';
import { buildMetricsServer } from '../src/metrics-server.js';

const file = (rel: string) => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');

/** Test-only overrides the chart never sets. */
const APP_ONLY_ENV = ['DATABASE_URL', 'SENDGRID_API_URL'];

const validEnv = {
  PGHOST: 'postgres',
  PGPORT: '5432',
  PGDATABASE: 'expenses',
  PGUSER: 'expenses',
  PGPASSWORD: 'pw',
  REDIS_URL: 'redis://redis:6379',
  REDIS_PASSWORD: 'pw',
  SESSION_SECRET: 'x'.repeat(32),
  SENDGRID_API_KEY: 'SG.key',
  MAIL_FROM: 'alerts@example.com',
  PUBLIC_BASE_URL: 'https://expense.example.com',
  LOG_LEVEL: 'info',
  NODE_ENV: 'production',
  ADMIN_EMAIL: '',
};

describe('environment contract', () => {
  it('reads exactly the ConfigMap keys, the Secret env vars, their <NAME>_FILE variants, the listener settings and the two app-only overrides', () => {
    const secretEnv = Object.keys(APP_SECRET_ENV);
    const expected = [...APP_CONFIG_KEYS, ...secretEnv, ...Object.values(APP_SECRET_FILE_ENV), ...Object.keys(APP_LISTEN_ENV), ...APP_ONLY_ENV].sort();
    expect([...ENV_KEYS].sort()).toEqual(expected);
    expect([...SECRET_KEYS].sort()).toEqual([...secretEnv].sort());
  });

  it('listens on HOST (default all IPv4 interfaces) and serves /metrics on METRICS_PORT, which must differ from PORT', () => {
    const cfg = loadConfig(validEnv);
    expect(cfg.host).toBe(APP_LISTEN_ENV.HOST);
    expect(cfg.metricsPort).toBe(APP_METRICS_PORT);
    expect(String(cfg.metricsPort)).toBe(APP_LISTEN_ENV.METRICS_PORT);
    expect(loadConfig({ ...validEnv, HOST: '::', METRICS_PORT: '9100' })).toMatchObject({ host: '::', metricsPort: 9100 });
    expect(loadConfig({ ...validEnv, HOST: 'localhost' }).host).toBe('localhost');
    expect(() => loadConfig({ ...validEnv, HOST: 'not a host!' })).toThrow(/HOST: must be an IP address or host name/);
    expect(() => loadConfig({ ...validEnv, METRICS_PORT: String(APP_PORT) })).toThrow(`METRICS_PORT: must differ from PORT (${APP_PORT})`);
    expect(() => loadConfig({ ...validEnv, METRICS_PORT: '70000' })).toThrow(/METRICS_PORT/);
  });

  it('defaults PORT to the chart port and accepts a chart-shaped environment', () => {
    const { PORT: _omit, ...noPort } = validEnv as Record<string, string>;
    const cfg = loadConfig(noPort);
    expect(cfg.port).toBe(APP_PORT);
    expect(cfg.secureCookies).toBe(true); // https PUBLIC_BASE_URL -> Secure cookies
    expect(cfg.adminEmail).toBeUndefined(); // empty ADMIN_EMAIL is allowed
    expect(cfg.postgres).toMatchObject({ host: 'postgres', port: 5432, database: 'expenses', user: 'expenses' });
    expect(envSchema.shape.PORT).toBeDefined();
  });

  it('names each missing or bad variable', () => {
    expect(() => loadConfig({ ...validEnv, PGHOST: '', SESSION_SECRET: 'short', MAIL_FROM: 'x' })).toThrow(
      /SESSION_SECRET: must be at least 32 characters[\s\S]*MAIL_FROM/,
    );
    expect(() => loadConfig({ ...validEnv, PGHOST: '' })).toThrow(/PGHOST: is required when DATABASE_URL is not set/);
    expect(() => loadConfig({ ...validEnv, REDIS_URL: 'redis://:secret@redis:6379' })).toThrow(/REDIS_URL: .*without credentials/);
    expect(() => loadConfig({ ...validEnv, LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
    expect(() => loadConfig({ ...validEnv, PGPORT: '99999' })).toThrow(/PGPORT/);
  });
});

describe('import contract', () => {
  it('reads exactly the IMPORT_* keys the chart sets; the worker port and staging path agree', () => {
    expect([...IMPORT_ENV_KEYS].sort()).toEqual([...IMPORT_CONFIG_KEYS].sort());
    const cfg = loadConfig({ ...validEnv, IMPORT_STAGING_DIR: IMPORT_STAGING_PATH });
    expect(cfg.imports.workerPort).toBe(IMPORT_WORKER_PORT);
    expect(cfg.imports.stagingDir).toBe(IMPORT_STAGING_PATH);
    // `node dist/imports/worker.js` is the build of src/imports/worker.ts.
    expect(APP_IMPORT_WORKER_COMMAND).toEqual(['node', 'dist/imports/worker.js']);
    expect(file('../src/imports/worker.ts')).toMatch(/import\.meta\.url === pathToFileURL\(process\.argv\[1\]/);
  });
});

describe('secrets from files (<NAME>_FILE, as the official images)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'secret-files-'));
  const secret = (name: string, content: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  };
  const { PGPASSWORD: _p, REDIS_PASSWORD: _r, SESSION_SECRET: _s, SENDGRID_API_KEY: _k, ...noSecrets } = validEnv;

  it('reads every secret from its file, without the trailing newline', () => {
    const cfg = loadConfig({
      ...noSecrets,
      PGPASSWORD_FILE: secret('pg', 'pg-pass\n'),
      REDIS_PASSWORD_FILE: secret('redis', 'redis-pass\r\n'),
      SESSION_SECRET_FILE: secret('session', `${'s'.repeat(40)}\n\n`),
      SENDGRID_API_KEY_FILE: secret('sendgrid', 'SG.from-file'),
    });
    expect(cfg.postgres.password).toBe('pg-pass');
    expect(cfg.redis.password).toBe('redis-pass');
    expect(cfg.sessionSecret).toBe('s'.repeat(40));
    expect(cfg.sendgrid.apiKey).toBe('SG.from-file');
  });

  it('names the _FILE variable and path for a missing file, both ways set, or bad content', () => {
    const missing = path.join(dir, 'nope');
    expect(() => loadConfig({ ...validEnv, SESSION_SECRET: '', SESSION_SECRET_FILE: missing })).toThrow(
      `SESSION_SECRET_FILE (${missing}): cannot read the file (ENOENT)`,
    );
    expect(() => loadConfig({ ...validEnv, SENDGRID_API_KEY_FILE: secret('k2', 'SG.x') })).toThrow(
      /SENDGRID_API_KEY_FILE \(.*k2\): SENDGRID_API_KEY is set too; set only one of SENDGRID_API_KEY and SENDGRID_API_KEY_FILE/,
    );
    const short = secret('short', 'tooshort\n');
    expect(() => loadConfig({ ...noSecrets, PGPASSWORD: 'x', REDIS_PASSWORD: 'x', SENDGRID_API_KEY: 'SG.x', SESSION_SECRET_FILE: short })).toThrow(
      `SESSION_SECRET_FILE (${short}): must be at least 32 characters`,
    );
    expect(() => loadConfig({ ...noSecrets, SESSION_SECRET: 'x'.repeat(32), SENDGRID_API_KEY_FILE: dir })).toThrow(
      `SENDGRID_API_KEY_FILE (${dir}): cannot read the file (EISDIR)`,
    );
  });

  it('cli reads PGPASSWORD_FILE too and reports an unreadable one with exit code 2', async () => {
    const missing = path.join(dir, 'missing-pg');
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (errors.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      expect(await runCli(['migrate'], { DATABASE_URL: 'postgresql://u@127.0.0.1:1/db', PGPASSWORD_FILE: missing })).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(errors.join('')).toContain(`PGPASSWORD_FILE (${missing}): cannot read the file (ENOENT)`);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('routes contract', () => {
  it('serves the probe and metrics paths the chart uses', async () => {
    const config = loadConfig(validEnv);
    const pool = new pg.Pool({ host: '127.0.0.1', port: 1 }); // nothing listens there: every query fails
    const redis = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    const built = await buildApp({ config, pool, redis, mailer: { send: async () => {} }, logger: pino({ level: 'silent' }) });
    const { app, metrics } = built;
    const metricsServer = buildMetricsServer(metrics, pino({ level: 'silent' }));
    try {
      await app.ready();
      for (const url of [HEALTH_PATH, READY_PATH]) expect(app.hasRoute({ method: 'GET', url }), url).toBe(true);
      // /metrics only on its own listener, never on the port HAProxy and the Ingress route to
      expect(app.hasRoute({ method: 'GET', url: METRICS_PATH })).toBe(false);
      await metricsServer.ready();
      expect(metricsServer.hasRoute({ method: 'GET', url: METRICS_PATH })).toBe(true);
      const health = await app.inject({ method: 'GET', url: HEALTH_PATH });
      expect(health.statusCode).toBe(200); // liveness never depends on Postgres or Redis
      // readiness reports both dependencies down (nothing listens) and stays ready, within the check timeout
      const started = Date.now();
      const ready = await app.inject({ method: 'GET', url: READY_PATH });
      expect(Date.now() - started).toBeLessThan(READY_CHECK_TIMEOUT_MS + 500);
      expect(ready.statusCode).toBe(READY_STATUS);
      expect(ready.json()).toEqual({ status: 'degraded', postgres: 'down', redis: 'down', pool: 'ok' });
      // a request that needs the database (a session to check) answers 503 with the contract's Retry-After
      const api = await app.inject({ method: 'GET', url: '/api/expenses', cookies: { sid: sign('some-session', config.sessionSecret) } });
      expect(api.statusCode).toBe(503);
      expect(api.headers['retry-after']).toBe(String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      built.state.shuttingDown = true;
      expect((await app.inject({ method: 'GET', url: READY_PATH })).statusCode).toBe(DRAINING_STATUS);
    } finally {
      await metricsServer.close();
      await app.close();
      await pool.end();
      redis.disconnect();
    }
  });
});

describe('readiness contract: app, chart probes and HAProxy checks agree', () => {
  const environments = ['local', 'ibm'] as const;
  const synth = (env: (typeof environments)[number]) => synthesizeEnvironment(loadEnvironment(env, { imageTag: '1.0.0' }));
  const find = (objects: KubeObject[], kind: string, name: string): any => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    if (!o) throw new Error(`${kind}/${name} not synthesized`);
    return o;
  };

  it.each(environments)('%s: the kubelet probes liveness on HEALTH_PATH and readiness on READY_PATH of the app port, with timeouts above the check timeout', (env) => {
    const web = find(synth(env), 'Deployment', 'expense-web').spec.template.spec.containers.find((c: { name: string }) => c.name === 'web');
    const appPort = web.ports.find((p: { name: string }) => p.name === APP_PORT_NAME).containerPort;
    expect(appPort).toBe(APP_PORT);
    expect(web.readinessProbe.httpGet).toMatchObject({ path: READY_PATH, port: appPort });
    expect(web.livenessProbe.httpGet).toMatchObject({ path: HEALTH_PATH, port: appPort });
    expect(web.startupProbe.httpGet).toMatchObject({ path: HEALTH_PATH, port: appPort });
    for (const probe of [web.readinessProbe, web.livenessProbe]) expect(probe.timeoutSeconds * 1000).toBeGreaterThan(READY_CHECK_TIMEOUT_MS);
    // the metrics listener is never a probe target
    for (const probe of [web.readinessProbe, web.livenessProbe, web.startupProbe]) expect(probe.httpGet.port).not.toBe(APP_METRICS_PORT);
  });

  it.each(environments)('%s: HAProxy checks READY_PATH expecting READY_STATUS, within a longer timeout, and retries 503 elsewhere', (env) => {
    const cfg: string = find(synth(env), 'ConfigMap', 'haproxy-config').data['haproxy.cfg'];
    const lines = cfg.split('\n').map((l) => l.trim());
    const checks = lines.filter((l) => l.startsWith('option httpchk'));
    expect(checks.length).toBeGreaterThan(0);
    for (const l of checks) expect(l).toBe(`option httpchk GET ${READY_PATH}`);
    for (const l of lines.filter((x) => x.startsWith('http-check expect'))) expect(l).toBe(`http-check expect status ${READY_STATUS}`);
    const checkTimeout = /^timeout check (\d+)s$/.exec(lines.find((l) => l.startsWith('timeout check')) ?? '')?.[1];
    expect(Number(checkTimeout) * 1000).toBeGreaterThan(READY_CHECK_TIMEOUT_MS);
    // the app's 503 (database unreachable, nothing changed) is retried on another server
    expect(lines.find((l) => l.startsWith('retry-on'))?.split(/\s+/)).toContain('503');
    // HAProxy never routes to the metrics listener
    expect(cfg).not.toContain(`:${APP_METRICS_PORT}`);
    expect(UNAVAILABLE_RETRY_AFTER_SECONDS).toBeGreaterThan(0);
  });
});

describe('metrics listener: exposed to the scraper only', () => {
  /** The environment's chart with the operations layer (monitors, rules, scrape NetworkPolicies) added. */
  const synth = (env: 'local' | 'ibm'): any[] => {
    const environment = loadEnvironment(env, { imageTag: '1.0.0', set: ['monitoring.enabled=true'] });
    return new ExpenseTrackerChart(new App(), 'contract', { environment }).toJson();
  };
  const opens = (np: any, port: number | string) =>
    (np.spec.ingress ?? []).some((r: { ports?: { port: unknown }[] }) => (r.ports ?? []).some((p) => p.port === port));

  it.each(['local', 'ibm'] as const)('%s: web pods declare it, Service expense-web exposes it as port metrics for the ServiceMonitor, no Ingress or HAProxy routes to it, only the scraper\'s namespace is let in', (env) => {
    const objects = synth(env);
    const web = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'expense-web');
    const ports = web.spec.template.spec.containers.find((c: { name: string }) => c.name === 'web').ports;
    expect(ports).toContainEqual({ containerPort: APP_METRICS_PORT, name: APP_METRICS_PORT_NAME });
    const podLabels: Record<string, string> = web.spec.template.metadata.labels;
    const selectsWeb = (selector: Record<string, string> | undefined) => !!selector && Object.entries(selector).every(([k, v]) => podLabels[k] === v);
    const webServices = objects.filter((o) => o.kind === 'Service' && selectsWeb(o.spec.selector));
    expect(webServices.length).toBeGreaterThan(0);
    // Only Service expense-web carries the metrics port (for the ServiceMonitor); HAProxy's Service does not.
    for (const svc of webServices) {
      const metricsPorts = svc.spec.ports.filter((p: { targetPort: unknown }) => [APP_METRICS_PORT_NAME, APP_METRICS_PORT].includes(p.targetPort as never));
      expect(metricsPorts.map((p: { name: string }) => p.name), `Service/${svc.metadata.name}`).toEqual(svc.metadata.name === 'expense-web' ? [APP_METRICS_PORT_NAME] : []);
    }
    for (const ing of objects.filter((o) => o.kind === 'Ingress')) expect(JSON.stringify(ing.spec)).not.toContain(APP_METRICS_PORT_NAME);
    const monitor = objects.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === 'expense-web');
    expect(monitor.spec.endpoints.map((e: { port: string; path: string }) => [e.port, e.path])).toEqual([[APP_METRICS_PORT_NAME, METRICS_PATH]]);
    const opening = objects.filter(
      (o) => o.kind === 'NetworkPolicy' && selectsWeb(o.spec.podSelector.matchLabels) && (opens(o, APP_METRICS_PORT_NAME) || opens(o, APP_METRICS_PORT)),
    );
    expect(opening.map((np) => np.metadata.name)).toEqual(['allow-prometheus-to-web-metrics']);
    for (const r of opening[0].spec.ingress) for (const from of r.from) expect(Object.keys(from)).toEqual(['namespaceSelector']);
    // and the app port stays closed to the scraper
    expect(objects.filter((o) => o.kind === 'NetworkPolicy' && o.metadata.name.startsWith('allow-prometheus') && opens(o, APP_PORT_NAME)).map((o) => o.metadata.name)).toEqual([]);
  });
});

describe('TLS-dependent cookie and header settings', () => {
  it('marks cookies Secure and sends HSTS only when PUBLIC_BASE_URL is https', async () => {
    for (const [base, secure] of [['https://expense.example.com', true], ['http://127.0.0.1:8080', false]] as const) {
      const config = loadConfig({ ...validEnv, PUBLIC_BASE_URL: base });
      const pool = new pg.Pool({ host: '127.0.0.1', port: 1 });
      const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false });
      const { app } = await buildApp({ config, pool, redis, mailer: { send: async () => {} }, logger: pino({ level: 'silent' }) });
      try {
        const res = await app.inject({ method: 'GET', url: '/login' });
        expect(res.statusCode).toBe(200);
        const csrfCookie = String(res.headers['set-cookie']);
        expect(csrfCookie).toMatch(/HttpOnly/i);
        expect(csrfCookie).toMatch(/SameSite=Lax/i);
        expect(/;\s*Secure/i.test(csrfCookie), base).toBe(secure);
        expect(res.headers['strict-transport-security'] !== undefined, base).toBe(secure);
      } finally {
        await app.close();
        await pool.end();
        redis.disconnect();
      }
    }
  });
});

describe('image contract (app/Dockerfile)', () => {
  const dockerfile = file('../Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const finalStage = instructions.slice(instructions.map((l) => l.startsWith('FROM ')).lastIndexOf(true));
  const last = (kw: string) => finalStage.filter((l) => l.startsWith(`${kw} `)).at(-1)?.slice(kw.length + 1);

  it('pins every base image to node:20.18.1-bookworm-slim', () => {
    const froms = instructions.filter((l) => l.startsWith('FROM ')).map((l) => l.split(/\s+/)[1]);
    expect(froms.length).toBeGreaterThanOrEqual(2); // multi-stage
    expect(new Set(froms)).toEqual(new Set(['node:20.18.1-bookworm-slim']));
  });

  it('runs as the chart UID/GID in the chart workdir with the server command and port', () => {
    expect(last('USER')).toBe(`${APP_UID}:${APP_GID}`);
    expect(last('WORKDIR')).toBe(APP_WORKDIR);
    expect(JSON.parse(last('CMD')!)).toEqual(APP_SERVER_COMMAND);
    expect(last('EXPOSE')).toBe(String(APP_PORT));
    // the migration command's script is in the image
    expect(finalStage.some((l) => /^COPY --from=build \/src\/app\/dist \.\/dist$/.test(l))).toBe(true);
    expect(finalStage.some((l) => /^COPY app\/migrations \.\/migrations$/.test(l))).toBe(true);
    expect(APP_MIGRATE_COMMAND[1]).toBe('dist/cli.js');
  });

  it('npm run migrate runs the contract migration command', () => {
    const pkg = JSON.parse(file('../package.json'));
    expect(pkg.name).toBe('expense-tracker');
    expect(pkg.scripts.migrate).toBe(APP_MIGRATE_COMMAND.join(' '));
    expect(pkg.scripts.start).toBe(APP_SERVER_COMMAND.join(' '));
  });

  it('sends only the sources to the build context', () => {
    const ignore = file('../Dockerfile.dockerignore').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('**');
    expect(ignore).not.toContain('!app/node_modules/**');
    expect(ignore).toContain('!app/migrations/**');
  });
});
