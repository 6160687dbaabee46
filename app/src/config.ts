/**
 * Process configuration, read only from environment variables.
 *
 * The variable names are the keys of the chart's `expense-config` ConfigMap and the app Secrets
 * (see `model/app-contract.ts`), plus two optional overrides: `DATABASE_URL` (instead of the
 * libpq-style `PG*` variables) and `SENDGRID_API_URL` (points the SendGrid client at a stub in tests).
 *
 * Each secret ({@link SECRET_KEYS}) may instead be read from a file named by `<NAME>_FILE` (the
 * convention of the official postgres/redis images, for Secrets mounted as volumes); the file's
 * trailing newlines are dropped, as the images' `file_env` does. Setting both is an error.
 *
 * {@link loadConfig} validates everything at start and throws a {@link ConfigError} naming each bad
 * variable, so a misconfigured pod fails fast instead of half-working.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { APP_METRICS_PORT, APP_PORT, APP_SECRET_FILE_ENV, APP_LISTEN_ENV, POSTGRES_PORT, type AppSecretEnv } from '@expense-tracker/model/app-contract';
import { readImportEnv, type ImportConfig } from './imports/config.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Empty strings count as "unset" (Kubernetes ConfigMaps often carry empty values). */
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const httpUrl = (what: string) =>
  z.url({ protocol: /^https?$/, error: `must be an http(s) URL (${what})` });

const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
/** An IPv4 or IPv6 address or a DNS host name. */
function isListenAddress(v: string): boolean {
  return isIP(v) !== 0 || HOST_NAME.test(v);
}

/** Secret variables: each may come from `<NAME>_FILE` instead (a path, read at start). */
export const SECRET_KEYS = Object.keys(APP_SECRET_FILE_ENV) as AppSecretEnv[];
const fileVar = (key: AppSecretEnv) => APP_SECRET_FILE_ENV[key];

/**
 * The raw environment schema: exactly the variables the app reads. Keys are env names.
 * Units: PORT/PGPORT are TCP ports; everything else is a string.
 */
export const envSchema = z.object({
  NODE_ENV: z.enum(['production', 'development', 'test']).default('production'),
  PORT: z.coerce.number().int().min(1).max(65535).default(APP_PORT),
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).default(APP_METRICS_PORT),
  HOST: optionalString.pipe(
    z.union([z.undefined(), z.string().refine(isListenAddress, 'must be an IP address or host name to listen on (0.0.0.0, ::, 127.0.0.1)')]),
  ),
  DATABASE_URL: optionalString.pipe(
    z.union([z.undefined(), z.string().regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')]),
  ),
  PGHOST: optionalString,
  PGPORT: optionalString.pipe(z.union([z.undefined(), z.string().regex(/^\d{1,5}$/, 'must be a TCP port').transform(Number).pipe(z.number().int().min(1).max(65535))])),
  PGDATABASE: optionalString,
  PGUSER: optionalString,
  PGPASSWORD: optionalString,
  REDIS_URL: z
    .string({ error: 'is required (redis://host:port[/db])' })
    .regex(/^rediss?:\/\/[^@]+$/, 'must be redis://host:port[/db] without credentials (use REDIS_PASSWORD)'),
  REDIS_PASSWORD: optionalString,
  SESSION_SECRET: z.string({ error: 'is required' }).min(32, 'must be at least 32 characters'),
  SENDGRID_API_KEY: z.string({ error: 'is required' }).min(1, 'must not be empty'),
  SENDGRID_API_URL: optionalString.pipe(z.union([z.undefined(), httpUrl('SendGrid API base URL')])),
  MAIL_FROM: z.email({ error: 'must be an email address' }),
  PUBLIC_BASE_URL: httpUrl('the URL users reach the app at'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  ADMIN_EMAIL: optionalString.pipe(z.union([z.undefined(), z.email({ error: 'must be an email address or empty' })])),
  PGPASSWORD_FILE: optionalString,
  REDIS_PASSWORD_FILE: optionalString,
  SESSION_SECRET_FILE: optionalString,
  SENDGRID_API_KEY_FILE: optionalString,
});

/** Every environment variable name the app reads (the contract test compares it with the chart). */
export const ENV_KEYS = Object.keys(envSchema.shape) as (keyof typeof envSchema.shape)[];

/** Thrown by {@link loadConfig}; `issues` lists `VARIABLE: message` lines. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid environment configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Validated, typed configuration. */
export interface Config {
  nodeEnv: 'production' | 'development' | 'test';
  /** Address the HTTP listeners bind (default 0.0.0.0: all IPv4 interfaces, as a container needs). */
  host: string;
  /** TCP port the HTTP server listens on. */
  port: number;
  /** TCP port of the separate `/metrics` listener. */
  metricsPort: number;
  /** node-postgres connection settings (host/port/database/user/password or a connection string). */
  postgres: { connectionString?: string; host?: string; port?: number; database?: string; user?: string; password?: string };
  redis: { url: string; password?: string };
  sessionSecret: string;
  sendgrid: { apiKey: string; apiUrl?: string };
  mailFrom: string;
  publicBaseUrl: string;
  /** True when PUBLIC_BASE_URL is https: session cookies get the Secure attribute. */
  secureCookies: boolean;
  logLevel: (typeof LOG_LEVELS)[number];
  /** Lower-cased email that becomes admin when it registers (optional). */
  adminEmail?: string;
  /** CSV imports (`IMPORT_*` variables, see imports/config.ts). */
  imports: ImportConfig;
}

/**
 * Picks `keys` from `env` and replaces each secret whose `<NAME>_FILE` is set by the file's
 * content. `label(key)` names where a value came from in messages (`SESSION_SECRET_FILE (path)`);
 * `issues` has one line per unreadable file or secret set both ways.
 */
export function readEnvironment(env: NodeJS.ProcessEnv, keys: readonly string[]) {
  const picked: Record<string, string | undefined> = {};
  for (const key of keys) picked[key] = env[key];
  const issues: string[] = [];
  const fromFile = new Map<string, string>();
  for (const key of SECRET_KEYS) {
    const path = env[fileVar(key)]?.trim();
    if (!keys.includes(key) || !path) continue;
    fromFile.set(key, `${fileVar(key)} (${path})`);
    if (env[key]?.trim()) {
      issues.push(`${fileVar(key)} (${path}): ${key} is set too; set only one of ${key} and ${fileVar(key)}`);
      continue;
    }
    try {
      picked[key] = readFileSync(path, 'utf8').replace(/(\r?\n)+$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      issues.push(`${fileVar(key)} (${path}): cannot read the file (${code})`);
    }
  }
  const label = (key: string) => fromFile.get(key) ?? key;
  return { picked, issues, label };
}

/**
 * The pool's connection settings from validated variables: `DATABASE_URL` (plus `PGPASSWORD`
 * when the URL carries none), else the `PG*` variables with `PGPORT` defaulting to PostgreSQL's port.
 */
export function postgresConnection(e: Pick<z.output<typeof envSchema>, 'DATABASE_URL' | 'PGHOST' | 'PGPORT' | 'PGDATABASE' | 'PGUSER' | 'PGPASSWORD'>): Config['postgres'] {
  return e.DATABASE_URL
    ? { connectionString: e.DATABASE_URL, ...(e.PGPASSWORD ? { password: e.PGPASSWORD } : {}) }
    : { host: e.PGHOST, port: e.PGPORT ?? POSTGRES_PORT, database: e.PGDATABASE, user: e.PGUSER, password: e.PGPASSWORD };
}

/**
 * Validates `env` and returns the typed config.
 * @throws ConfigError naming each missing or invalid variable (or the `_FILE` variable and path
 *   a secret was read from).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const { picked, issues, label } = readEnvironment(env, ENV_KEYS);
  const parsed = envSchema.safeParse(picked);
  if (!parsed.success || issues.length > 0) {
    for (const issue of parsed.error?.issues ?? []) {
      const key = String(issue.path[0] ?? '(environment)');
      if (issues.some((i) => i.startsWith(`${label(key)}:`))) continue; // already explained (unreadable file, both set)
      const msg = issue.code === 'invalid_type' && picked[key] === undefined ? 'is required' : issue.message;
      issues.push(`${label(key)}: ${msg}`);
    }
    throw new ConfigError(issues);
  }
  const e = parsed.data;
  if (e.METRICS_PORT === e.PORT) issues.push(`METRICS_PORT: must differ from PORT (${e.PORT}): /metrics has its own listener`);
  if (!e.DATABASE_URL) {
    for (const key of ['PGHOST', 'PGDATABASE', 'PGUSER'] as const) {
      if (!e[key]) issues.push(`${key}: is required when DATABASE_URL is not set`);
    }
  }
  const imports = readImportEnv(env);
  issues.push(...imports.issues);
  if (issues.length > 0 || !imports.config) throw new ConfigError(issues);
  return {
    nodeEnv: e.NODE_ENV,
    host: e.HOST ?? APP_LISTEN_ENV.HOST,
    port: e.PORT,
    metricsPort: e.METRICS_PORT,
    postgres: postgresConnection(e),
    redis: { url: e.REDIS_URL, password: e.REDIS_PASSWORD },
    sessionSecret: e.SESSION_SECRET,
    sendgrid: { apiKey: e.SENDGRID_API_KEY, apiUrl: e.SENDGRID_API_URL },
    mailFrom: e.MAIL_FROM,
    publicBaseUrl: e.PUBLIC_BASE_URL.replace(/\/+$/, ''),
    secureCookies: e.PUBLIC_BASE_URL.startsWith('https:'),
    logLevel: e.LOG_LEVEL,
    adminEmail: e.ADMIN_EMAIL?.trim().toLowerCase(),
    imports: imports.config,
  };
}
