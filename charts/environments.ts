/**
 * Typed, validated configuration for every environment the expense tracker is deployed to.
 *
 * One `EnvironmentConfig` per environment (`local` = minikube + local registry, `ibm` = IBM
 * Cloud Kubernetes Service + IBM Container Registry). `loadEnvironment()` applies Helm-style
 * `--set path=value` overrides and the `IMAGE_TAG` variable, then validates the result with
 * zod; every error names the environment and the field path.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DNS_LABEL, DNS_SUBDOMAIN, IMAGES, STORAGE_QUANTITY } from './conventions.js';

/** Docker tag grammar: https://docs.docker.com/reference/cli/docker/image/tag/ */
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Image repository without tag or digest, e.g. `localhost:5000/expense-tracker`. */
const IMAGE_REPOSITORY = /^([a-z0-9.-]+(:[0-9]+)?\/)?[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
/** A pinned image reference `repo:tag` whose tag is not `latest`. */
const PINNED_IMAGE = /^([a-z0-9.-]+(:[0-9]+)?\/)?[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** CPU quantity in millicores (`250m`) or whole/fractional cores (`1`, `0.5`). */
const cpuQuantity = z
  .string()
  .regex(/^([1-9][0-9]*m|[0-9]+(\.[0-9]{1,3})?)$/, 'must be a CPU quantity such as "250m" or "1"');
/** Memory quantity in bytes with a binary suffix, e.g. `128Mi`, `1Gi`. */
const memoryQuantity = z.string().regex(/^[1-9][0-9]*(Ki|Mi|Gi)$/, 'must be a memory quantity such as "128Mi" or "1Gi"');
/** Storage quantity in bytes with a binary suffix, e.g. `1Gi`, `20Gi`. */
const storageQuantity = z.string().regex(STORAGE_QUANTITY, 'must be a storage quantity such as "1Gi" or "20Gi"');

const notLatest = (tag: string) => tag !== 'latest';

const resourceList = z.strictObject({ cpu: cpuQuantity, memory: memoryQuantity });
/** Container requests and limits (https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/). */
const resources = z
  .strictObject({ requests: resourceList, limits: resourceList })
  .refine((r) => toMillicores(r.requests.cpu) <= toMillicores(r.limits.cpu), {
    message: 'requests.cpu must not exceed limits.cpu',
    path: ['requests', 'cpu'],
  })
  .refine((r) => toBytes(r.requests.memory) <= toBytes(r.limits.memory), {
    message: 'requests.memory must not exceed limits.memory',
    path: ['requests', 'memory'],
  });

const pinnedImage = z
  .string()
  .regex(PINNED_IMAGE, 'must be a pinned image reference "repository:tag"')
  .refine((image) => notLatest(image.slice(image.lastIndexOf(':') + 1)), 'must not use the "latest" tag');

/** A whole number of seconds within `[min, max]`. */
const seconds = (min: number, max: number) =>
  z.number().int('must be a whole number of seconds').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

export const environmentSchema = z.strictObject({
  /** Environment name; also the `app.kubernetes.io/instance` label value and the `dist/<name>` directory. */
  name: z.string().regex(DNS_LABEL, 'must be a DNS label'),
  /** Namespace every object lives in. */
  namespace: z.string().regex(DNS_LABEL, 'must be a DNS label (lower case, digits, "-", at most 63 characters)'),
  image: z.strictObject({
    /** Registry and repository of the app image, without tag. */
    repository: z.string().regex(IMAGE_REPOSITORY, 'must be an image repository without tag, e.g. "localhost:5000/expense-tracker"'),
    /** Immutable image tag; never `latest`. */
    tag: z
      .string()
      .regex(IMAGE_TAG, 'must be a valid image tag')
      .refine(notLatest, 'must not be "latest": deploy an immutable tag'),
    pullPolicy: z.enum(['IfNotPresent', 'Always', 'Never']),
  }),
  web: z.strictObject({
    replicas: z.number().int('must be an integer').min(1, 'must be at least 1').max(100, 'must be at most 100'),
    resources,
    /** Seconds Kubernetes waits after SIGTERM before SIGKILL. */
    terminationGracePeriodSeconds: z.number().int().min(5).max(600),
    /** Seconds the preStop hook sleeps so endpoints are removed before SIGTERM. */
    preStopSleepSeconds: z.number().int().min(0).max(60),
  }),
  postgres: z.strictObject({
    image: pinnedImage,
    database: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier'),
    username: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier'),
    /** Size of the `data` volumeClaimTemplate. */
    storage: storageQuantity,
    storageClassName: z.string().regex(DNS_SUBDOMAIN, 'must be a StorageClass name'),
    resources,
  }),
  redis: z.strictObject({
    image: pinnedImage,
    persistence: z.strictObject({
      enabled: z.boolean(),
      storage: storageQuantity,
      storageClassName: z.string().regex(DNS_SUBDOMAIN, 'must be a StorageClass name'),
    }),
    resources,
  }),
  ingress: z.strictObject({
    className: z.string().regex(DNS_SUBDOMAIN, 'must be an IngressClass name'),
    host: z.string().regex(DNS_SUBDOMAIN, 'must be a DNS host name such as "expense.local"'),
    /** Name of a `kubernetes.io/tls` Secret; empty for plain HTTP. */
    tlsSecretName: z.union([z.literal(''), z.string().regex(DNS_SUBDOMAIN, 'must be a Secret name')]),
  }),
  /** Namespace of the ingress controller, allowed through the web NetworkPolicy. */
  ingressControllerNamespace: z.string().regex(DNS_LABEL, 'must be a DNS label'),
  /**
   * HAProxy in front of the web pods (`haproxy/` renders its haproxy.cfg, `HaproxyLoadBalancer`
   * deploys it). Durations are whole seconds.
   */
  haproxy: z.strictObject({
    /** Deploy HAProxy; when false the Ingress targets the `expense-web` Service directly. */
    enabled: z.boolean(),
    /**
     * `behind-ingress`: Ingress → Service `haproxy` → HAProxy → web pods (the Ingress keeps TLS
     * and host routing). `replaces-ingress`: no Ingress; Service `haproxy` is type LoadBalancer.
     */
    placement: z.enum(['behind-ingress', 'replaces-ingress']),
    /** Official `haproxy` image (Debian variant, UID 99), pinned. */
    image: pinnedImage,
    replicas: z.number().int('must be an integer').min(1, 'must be at least 1').max(20, 'must be at most 20'),
    resources,
    /** `global maxconn`: concurrent connections per HAProxy process. */
    maxconn: z.number().int('must be an integer').min(100, 'must be at least 100').max(100_000, 'must be at most 100000'),
    /**
     * `server-template` slots per backend: the most web pods HAProxy can address at once.
     * Must cover `web.replicas` plus the rolling update's surge pod.
     */
    serverSlots: z.number().int('must be an integer').min(1, 'must be at least 1').max(256, 'must be at most 256'),
    /** `balance` algorithm of each backend: pages (`web`) and the JSON API (`api`). */
    balance: z.strictObject({ web: z.enum(['roundrobin', 'leastconn']), api: z.enum(['roundrobin', 'leastconn']) }),
    /** `retries`: connection attempts after a failure (each redispatched to another server). */
    retries: z.number().int('must be an integer').min(0).max(10, 'must be at most 10'),
    timeouts: z.strictObject({
      connectSeconds: seconds(1, 60),
      clientSeconds: seconds(1, 3600),
      serverSeconds: seconds(1, 3600),
      httpRequestSeconds: seconds(1, 300),
      httpKeepAliveSeconds: seconds(1, 300),
      queueSeconds: seconds(1, 300),
    }),
    /** Active health checks (`default-server inter <i> fall <f> rise <r>`) against the app's readiness path. */
    healthCheck: z.strictObject({
      intervalSeconds: seconds(1, 60),
      fall: z.number().int('must be an integer').min(1).max(10, 'must be at most 10'),
      rise: z.number().int('must be an integer').min(1).max(10, 'must be at most 10'),
    }),
    /** Namespaces allowed to scrape the stats/metrics port (NetworkPolicy); empty for none. */
    metricsScrapeNamespaces: z.array(z.string().regex(DNS_LABEL, 'must be a DNS label')),
  }),
  app: z.strictObject({
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']),
    mailFrom: z.email('must be an e-mail address'),
    /** E-mail address that becomes admin when it registers; empty for none. */
    adminEmail: z.union([z.literal(''), z.email('must be an e-mail address')]),
  }),
}).superRefine((env, ctx) => {
  // A rolling update (maxSurge 1) briefly runs replicas + 1 web pods; each needs a server slot.
  if (env.haproxy.enabled && env.haproxy.serverSlots < env.web.replicas + 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['haproxy', 'serverSlots'],
      message: `must be at least web.replicas + 1 (${env.web.replicas + 1}) so every web pod, including the rolling update's surge pod, gets a server slot`,
    });
  }
});

/** A fully validated environment. */
export type EnvironmentConfig = z.infer<typeof environmentSchema>;
/** Names of the built-in environments. */
export type EnvironmentName = 'local' | 'ibm';

const smallResources = { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } };

/** Version of the app workspace, the default image tag when `IMAGE_TAG` is not set. */
export function appVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../app/package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

/** HAProxy settings both environments share (the seed's `inter 2s fall 3 rise 2`, `retries 3`). */
const haproxyDefaults = {
  image: IMAGES.haproxy,
  balance: { web: 'roundrobin', api: 'leastconn' },
  retries: 3,
  timeouts: { connectSeconds: 5, clientSeconds: 30, serverSeconds: 30, httpRequestSeconds: 10, httpKeepAliveSeconds: 10, queueSeconds: 10 },
  healthCheck: { intervalSeconds: 2, fall: 3, rise: 2 },
};

function baseEnvironments(tag: string): Record<EnvironmentName, unknown> {
  return {
    local: {
      name: 'local',
      namespace: 'expense-tracker',
      image: { repository: 'localhost:5000/expense-tracker', tag, pullPolicy: 'IfNotPresent' },
      web: { replicas: 2, resources: smallResources, terminationGracePeriodSeconds: 30, preStopSleepSeconds: 5 },
      postgres: {
        image: IMAGES.postgres,
        database: 'expenses',
        username: 'expense',
        storage: '1Gi',
        storageClassName: 'standard',
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
      },
      redis: {
        image: IMAGES.redis,
        persistence: { enabled: false, storage: '1Gi', storageClassName: 'standard' },
        resources: smallResources,
      },
      ingress: { className: 'nginx', host: 'expense.local', tlsSecretName: '' },
      ingressControllerNamespace: 'ingress-nginx',
      haproxy: {
        enabled: true,
        // minikube's ingress-nginx addon stays the entry point (host expense.local); HAProxy adds
        // app-aware routing, /readyz health checks, retries/redispatch and per-server metrics.
        placement: 'behind-ingress',
        replicas: 1,
        resources: { requests: { cpu: '25m', memory: '32Mi' }, limits: { cpu: '250m', memory: '128Mi' } },
        maxconn: 2000,
        serverSlots: 6,
        ...haproxyDefaults,
        metricsScrapeNamespaces: [],
      },
      app: { logLevel: 'debug', mailFrom: 'budget@expense.local', adminEmail: '' },
    },
    ibm: {
      name: 'ibm',
      namespace: 'expense-tracker',
      image: { repository: 'us.icr.io/expense-tracker/expense-tracker', tag, pullPolicy: 'IfNotPresent' },
      web: {
        replicas: 3,
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
        terminationGracePeriodSeconds: 40,
        preStopSleepSeconds: 10,
      },
      postgres: {
        image: IMAGES.postgres,
        database: 'expenses',
        username: 'expense',
        storage: '20Gi',
        storageClassName: 'ibmc-vpc-block-10iops-tier',
        resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } },
      },
      redis: {
        image: IMAGES.redis,
        persistence: { enabled: true, storage: '10Gi', storageClassName: 'ibmc-vpc-block-10iops-tier' },
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
      },
      // IKS ALB (Kubernetes ingress-nginx based); switch to `public-iks-traefik` with --set ingress.className=public-iks-traefik.
      ingress: { className: 'public-iks-k8s-nginx', host: 'expense.example.us-south.containers.appdomain.cloud', tlsSecretName: '' },
      ingressControllerNamespace: 'kube-system',
      haproxy: {
        enabled: true,
        // The IKS ALB keeps TLS termination and the public host; HAProxy (2 replicas, spread
        // over nodes) balances behind it. `--set haproxy.placement=replaces-ingress` exposes
        // HAProxy through a VPC load balancer instead.
        placement: 'behind-ingress',
        replicas: 2,
        resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } },
        maxconn: 10000,
        serverSlots: 10,
        ...haproxyDefaults,
        metricsScrapeNamespaces: ['monitoring'],
      },
      app: { logLevel: 'info', mailFrom: 'budget@example.com', adminEmail: '' },
    },
  };
}

/** Names of every built-in environment, in synthesis order. */
export const ENVIRONMENT_NAMES: readonly EnvironmentName[] = ['local', 'ibm'];

/** Raised for any invalid configuration; `issues` name the environment and field paths. */
export class ConfigError extends Error {
  constructor(
    readonly environment: string,
    readonly issues: readonly string[],
  ) {
    super(`invalid configuration for environment "${environment}":\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Options for `loadEnvironment`. */
export interface LoadEnvironmentOptions {
  /**
   * Helm-style overrides, `path.to.field=value`. A string field takes the text as is; other
   * fields read it as a number (`4`) or boolean (`true`), and the schema rejects mismatches.
   * @default []
   */
  readonly set?: readonly string[];
  /**
   * Image tag; overrides `image.tag`.
   * @default process.env.IMAGE_TAG, else the app workspace's package.json version
   */
  readonly imageTag?: string;
}

/**
 * Loads and validates one environment.
 * @throws ConfigError naming the environment and every invalid field path (unknown
 *   environment, unknown key in `set`, malformed `set` entry, invalid value).
 */
export function loadEnvironment(name: string, options: LoadEnvironmentOptions = {}): EnvironmentConfig {
  const tag = options.imageTag ?? process.env.IMAGE_TAG ?? appVersion();
  const bases = baseEnvironments(tag);
  if (!(name in bases)) {
    throw new ConfigError(name, [`unknown environment; known: ${Object.keys(bases).join(', ')}`]);
  }
  const raw = structuredClone(bases[name as EnvironmentName]) as Record<string, unknown>;
  const problems: string[] = [];
  for (const assignment of options.set ?? []) {
    const problem = applySet(raw, assignment);
    if (problem) problems.push(problem);
  }
  try {
    const env = validateEnvironment(raw, name);
    if (problems.length > 0) throw new ConfigError(name, problems);
    return env;
  } catch (error) {
    if (error instanceof ConfigError && problems.length > 0 && error.issues !== problems) {
      throw new ConfigError(name, [...problems, ...error.issues]);
    }
    throw error;
  }
}

/**
 * Validates an arbitrary object against the environment schema.
 * @throws ConfigError listing `path: message` for each problem.
 */
export function validateEnvironment(raw: unknown, name = 'custom'): EnvironmentConfig {
  const parsed = environmentSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(root)';
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => `${path === '(root)' ? '' : `${path}.`}${k}: unknown field`).join('; ');
    }
    return `${path}: ${issue.message}`;
  });
  throw new ConfigError(name, issues);
}

/** Loads every built-in environment with the same options. */
export function loadAllEnvironments(options: LoadEnvironmentOptions = {}): EnvironmentConfig[] {
  return ENVIRONMENT_NAMES.map((n) => loadEnvironment(n, options));
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
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      return `${keys.slice(0, i + 1).join('.')}: unknown field`;
    }
    node = next as Record<string, unknown>;
  }
  const last = keys[keys.length - 1];
  if (!Object.prototype.hasOwnProperty.call(node, last)) return `${path}: unknown field`;
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

/** Converts a CPU quantity (`250m`, `1`, `0.5`) to millicores. */
export function toMillicores(cpu: string): number {
  return cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Math.round(Number(cpu) * 1000);
}

/** Converts a binary-suffixed quantity (`128Mi`, `1Gi`) to bytes. */
export function toBytes(quantity: string): number {
  const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  const m = /^([0-9]+)(Ki|Mi|Gi|Ti)$/.exec(quantity);
  if (!m) throw new Error(`not a binary quantity: ${quantity}`);
  return Number(m[1]) * units[m[2]];
}
