/**
 * Loading an environment: the shared base (environments/base.ts), the environment's overrides
 * (environments/<name>.ts), the image tag, then Helm-style `--set path=value` overrides, validated
 * by the environment schema. Every problem is a `ConfigError` naming the environment and the field.
 *
 * To add an environment: write `environments/<name>.ts` exporting its overrides and list it in
 * `ENVIRONMENTS` below.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, type EnvironmentConfig, type EnvironmentOverrides, validateEnvironment } from './environment-schema.js';
import { base } from './environments/base.js';
import { ibm } from './environments/ibm.js';
import { local } from './environments/local.js';

export { ConfigError, validateEnvironment, type EnvironmentConfig } from './environment-schema.js';

/** The built-in environments, in synthesis order: name → overrides of the base. */
export const ENVIRONMENTS: Readonly<Record<string, EnvironmentOverrides>> = { local, ibm };

/** Names of the built-in environments. */
export type EnvironmentName = 'local' | 'ibm';
/** Names of every built-in environment, in synthesis order. */
export const ENVIRONMENT_NAMES = Object.keys(ENVIRONMENTS) as readonly EnvironmentName[];

/** Version of the app workspace, the default image tag when `IMAGE_TAG` is not set. */
export function appVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../app/package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

/** Options for `loadEnvironment`. */
export interface LoadEnvironmentOptions {
  /**
   * Helm-style overrides, `path.to.field=value`. A string field takes the text as is; other
   * fields read it as a number (`4`) or boolean (`true`), and the schema rejects mismatches.
   * A list field takes Helm's list syntax and is replaced whole: `path={a,b}` (`{}` empties it).
   * @default []
   */
  readonly set?: readonly string[];
  /**
   * Image tag; overrides `image.tag` (a `--set image.tag=…` still wins).
   * @default process.env.IMAGE_TAG, else the app workspace's package.json version
   */
  readonly imageTag?: string;
}

/**
 * The unvalidated values of a built-in environment: base, overrides and image tag merged.
 * @throws ConfigError for an unknown environment
 */
export function environmentValues(name: string, imageTag?: string): Record<string, unknown> {
  const overrides = Object.prototype.hasOwnProperty.call(ENVIRONMENTS, name) ? ENVIRONMENTS[name] : undefined;
  if (!overrides) throw new ConfigError(name, [`unknown environment; known: ${ENVIRONMENT_NAMES.join(', ')}`]);
  const values = merge({ name, ...base, image: { ...base.image, tag: imageTag ?? process.env.IMAGE_TAG ?? appVersion() } }, overrides);
  return values as Record<string, unknown>;
}

/**
 * Loads and validates one built-in environment.
 * @throws ConfigError naming the environment and every invalid field path (unknown
 *   environment, unknown key in `set`, malformed `set` entry, invalid value, broken rule)
 */
export function loadEnvironment(name: string, options: LoadEnvironmentOptions = {}): EnvironmentConfig {
  const raw = environmentValues(name, options.imageTag);
  const problems: string[] = [];
  for (const assignment of options.set ?? []) {
    const problem = applySet(raw, assignment);
    if (problem) problems.push(problem);
  }
  let env: EnvironmentConfig | undefined;
  try {
    env = validateEnvironment(raw, name);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.issues);
  }
  if (problems.length > 0 || !env) throw new ConfigError(name, problems);
  return env;
}

/** Loads every built-in environment with the same options. */
export function loadAllEnvironments(options: LoadEnvironmentOptions = {}): EnvironmentConfig[] {
  return ENVIRONMENT_NAMES.map((n) => loadEnvironment(n, options));
}

/** A deep copy of `target` with `overrides` merged in: objects merge key by key, arrays and scalars replace. */
function merge(target: unknown, overrides: unknown): unknown {
  if (!isPlainObject(target) || !isPlainObject(overrides)) return structuredClone(overrides === undefined ? target : overrides);
  const out: Record<string, unknown> = structuredClone(target);
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) out[key] = key in out ? merge(out[key], value) : structuredClone(value);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Applies one `a.b.c=value` assignment in place; returns a problem string or undefined. */
function applySet(target: Record<string, unknown>, assignment: string): string | undefined {
  const eq = assignment.indexOf('=');
  if (eq <= 0) return `--set "${assignment}": expected path=value`;
  const path = assignment.slice(0, eq).trim();
  const text = assignment.slice(eq + 1);
  const keys = path.split('.');
  if (keys.some((k) => k === '' || k === '__proto__' || k === 'constructor' || k === 'prototype')) {
    return `${path}: invalid field path`;
  }
  let node: Record<string, unknown> = target;
  for (let i = 0; i < keys.length - 1; i++) {
    const next = node[keys[i]];
    if (!isPlainObject(next)) return `${keys.slice(0, i + 1).join('.')}: unknown field`;
    node = next;
  }
  const last = keys[keys.length - 1];
  if (!Object.prototype.hasOwnProperty.call(node, last)) return `${path}: unknown field`;
  if (Array.isArray(node[last])) {
    // Helm's list syntax: `cidrs={10.0.0.0/8,192.168.0.0/16}` replaces the whole list; `{}` empties it.
    const list = /^\{(.*)\}$/.exec(text.trim());
    if (!list) return `${path}: is a list; give {value,value,...}`;
    const current = node[last] as unknown[];
    node[last] = list[1].trim() === '' ? [] : list[1].split(',').map((item) => (current.every((v) => typeof v === 'string') ? unquote(item.trim()) : parseScalar(item.trim())));
    return undefined;
  }
  if (typeof node[last] === 'object' && node[last] !== null) return `${path}: is an object; set one of its fields`;
  // The current value's type decides how the text is read (like Helm's --set vs --set-string):
  // `cpu=2` stays the string "2", `replicas=2` becomes the number 2.
  node[last] = typeof node[last] === 'string' ? unquote(text) : parseScalar(text);
  return undefined;
}

function unquote(text: string): string {
  return /^'.*'$|^".*"$/.test(text) ? text.slice(1, -1) : text;
}

function parseScalar(text: string): string | number | boolean {
  if (/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(text)) return Number(text);
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^'.*'$|^".*"$/.test(text)) return text.slice(1, -1);
  return text;
}
