import { describe, expect, it } from 'vitest';
import { ConfigError, ENVIRONMENT_NAMES, ENVIRONMENTS, environmentValues, loadEnvironment, validateEnvironment } from './environment.js';
import { base } from './environments/base.js';

const overridesOf = ENVIRONMENTS as Record<string, { app?: object }>;
import { toBytes, toMillicores } from './quantities.js';

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

describe('environments', () => {
  it('loads both built-in environments with their documented settings', () => {
    const local = loadEnvironment('local', { imageTag: '1.2.3' });
    expect(local.image).toEqual({ repository: 'localhost:5000/expense-tracker', tag: '1.2.3', digest: '', pullPolicy: 'IfNotPresent' });
    expect(local.web.replicas).toBe(2);
    expect(local.postgres.storageClassName).toBe('standard');
    expect(local.ingress).toMatchObject({ className: 'nginx', host: 'expense.local' });
    expect(local.redis.persistence.enabled).toBe(false);

    const ibm = loadEnvironment('ibm', { imageTag: '1.2.3' });
    expect(ibm.image.repository).toMatch(/^us\.icr\.io\/[a-z0-9-]+\/expense-tracker$/);
    expect(ibm.web.replicas).toBe(3);
    expect(ibm.postgres.storageClassName).toBe('ibmc-vpc-block-10iops-tier');
    expect(ibm.ingress.className).toBe('public-iks-k8s-nginx');
    expect(ibm.redis.persistence.enabled).toBe(true);
  });

  it('applies --set overrides with typed values', () => {
    const env = loadEnvironment('local', { imageTag: 'v1', set: ['web.replicas=4', 'redis.persistence.enabled=true', 'ingress.className=public-iks-traefik'] });
    expect(env.web.replicas).toBe(4);
    expect(env.redis.persistence.enabled).toBe(true);
    expect(env.ingress.className).toBe('public-iks-traefik');
    const lists = loadEnvironment('local', { imageTag: 'v1', set: ['postgres.ha.apiServer.cidrs={10.201.3.1/32, 10.96.0.1/32}', 'postgres.backup.s3.cidrs={}'] });
    expect(lists.postgres.ha.apiServer.cidrs).toEqual(['10.201.3.1/32', '10.96.0.1/32']);
    expect(lists.postgres.backup.s3.cidrs).toEqual([]);
  });

  it('takes the image tag from IMAGE_TAG and rejects latest', () => {
    const previous = process.env.IMAGE_TAG;
    try {
      process.env.IMAGE_TAG = 'abc123';
      expect(loadEnvironment('local').image.tag).toBe('abc123');
      process.env.IMAGE_TAG = 'latest';
      expect(issuesOf(() => loadEnvironment('local'))).toEqual(['image.tag: must not be "latest": deploy an immutable tag']);
    } finally {
      if (previous === undefined) delete process.env.IMAGE_TAG;
      else process.env.IMAGE_TAG = previous;
    }
  });

  it.each([
    ['web.replicas=0', 'web.replicas: must be at least 1'],
    ['web.replicas=2.5', 'web.replicas: must be an integer'],
    ['postgres.storage=5gigs', 'postgres.storage: must be a storage quantity such as "1Gi" or "20Gi"'],
    ['ingress.host=not a host', 'ingress.host: must be a DNS host name such as "expense.local"'],
    ['web.bogus=1', 'web.bogus: unknown field'],
    ['nope.deeper=1', 'nope: unknown field'],
    ['web=3', 'web: is an object; set one of its fields'],
    ['missing-equals', '--set "missing-equals": expected path=value'],
    ['postgres.ha.apiServer.cidrs=10.0.0.1/32', 'postgres.ha.apiServer.cidrs: is a list; give {value,value,...}'],
    ['postgres.ha.apiServer.cidrs={}', 'postgres.ha.apiServer.cidrs: must name at least one address block'],
    ['postgres.image.tag=latest', 'postgres.image.tag: must not be "latest": deploy an immutable tag'],
    ['postgres.image=postgres:16', 'postgres.image: is an object; set one of its fields'],
    ['image.digest=sha256:abc', 'image.digest: must be a digest such as "sha256:<64 hex digits>"'],
    ['web.resources.limits.memory=1000Ki', 'web.resources.limits.memory: must be a whole number of MiB, e.g. "128Mi"'],
    ['web.resources.requests.cpu=0', 'web.resources.requests.cpu: must be more than 0'],
    ['name=a-very-long-environment-name-that-overflows-the-label', 'name: must be at most 47 characters (it becomes part of the instance label)'],
    ['web.resources.requests.cpu=2', 'web.resources.requests.cpu: requests.cpu must not exceed limits.cpu'],
  ])('rejects --set %s naming the field', (assignment, issue) => {
    const problems = issuesOf(() => loadEnvironment('local', { imageTag: 'v1', set: [assignment] }));
    expect(problems).toContain(issue);
  });

  it('checks rules between fields inside the schema, naming the field', () => {
    expect(issuesOf(() => loadEnvironment('local', { imageTag: 'v1', set: ['web.preStopSleepSeconds=40'] }))).toEqual([
      'web.preStopSleepSeconds: must be less than terminationGracePeriodSeconds (30) so requests in flight can finish after the sleep',
    ]);
    expect(issuesOf(() => loadEnvironment('local', { imageTag: 'v1', set: ['web.replicas=6'] }))).toEqual([
      "haproxy.serverSlots: must be at least web.replicas + 1 (7) so every web pod, including the rolling update's surge pod, gets a server slot",
    ]);
    expect(issuesOf(() => loadEnvironment('local', { imageTag: 'v1', set: ['haproxy.enabled=false'] }))).toEqual([
      'compose.enabled: the compose topology puts HAProxy in front of the web replicas: set haproxy.enabled=true or compose.enabled=false',
    ]);
    expect(issuesOf(() => loadEnvironment('ibm', { imageTag: 'v1', set: ['postgres.backup.repository=pvc', 'postgres.backup.pvc.accessMode=ReadWriteOnce'] }))).toEqual([
      'postgres.backup.pvc.accessMode: a ReadWriteOnce repository volume is mounted on one node only, but postgres.ha.antiAffinity=required puts each member on its own node: use ReadWriteMany (a file StorageClass), postgres.backup.repository=s3, or antiAffinity preferred',
    ]);
    expect(loadEnvironment('ibm', { imageTag: 'v1', set: ['postgres.backup.repository=pvc'] }).postgres.backup.pvc.accessMode).toBe('ReadWriteMany');
    // Without HAProxy there are no server slots to check.
    expect(loadEnvironment('ibm', { imageTag: 'v1', set: ['haproxy.enabled=false', 'web.replicas=20'] }).web.replicas).toBe(20);
  });

  it('builds every environment from the shared base plus its overrides', () => {
    const local = environmentValues('local', 'v1');
    const ibm = environmentValues('ibm', 'v1');
    expect(local).toEqual({ name: 'local', ...base, image: { ...base.image, tag: 'v1' }, app: { ...base.app, ...overridesOf.local.app }, compose: { enabled: true } });
    // Arrays are replaced, objects merged key by key.
    expect((ibm.postgres as { ha: { apiServer: { cidrs: string[] } } }).ha.apiServer.cidrs).toEqual(['172.20.0.1/32']);
    expect((ibm.haproxy as { balance: unknown }).balance).toEqual(base.haproxy.balance);
    expect(ENVIRONMENT_NAMES).toEqual(['local', 'ibm']);
    // The base on its own is a valid environment: construct defaults come from it.
    expect(() => validateEnvironment({ name: 'base', ...base, image: { ...base.image, tag: 'v1' } })).not.toThrow();
  });

  it('names the environment in the error message and reports every problem at once', () => {
    try {
      loadEnvironment('ibm', { imageTag: 'v1', set: ['web.replicas=0', 'web.bogus=1', 'postgres.storage=5gigs'] });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('environment "ibm"');
      expect((error as ConfigError).issues).toHaveLength(3);
    }
  });

  it('rejects an unknown environment and unknown top-level keys', () => {
    expect(issuesOf(() => loadEnvironment('staging'))[0]).toMatch(/unknown environment/);
    const raw = { ...loadEnvironment('local', { imageTag: 'v1' }), extra: true };
    expect(issuesOf(() => validateEnvironment(raw, 'x'))).toEqual(['extra: unknown field']);
  });

  it('converts quantities', () => {
    expect(toMillicores('250m')).toBe(250);
    expect(toMillicores('1.5')).toBe(1500);
    expect(toBytes('128Mi')).toBe(128 * 2 ** 20);
    expect(toBytes('1Gi')).toBe(2 ** 30);
  });
});

describe('haproxy section', () => {
  it('validates the haproxy fields by path', () => {
    const bad = (set: string, message: RegExp) => {
      try {
        loadEnvironment('ibm', { imageTag: '1', set: [set] });
        expect.unreachable(`--set ${set} was accepted`);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).message).toMatch(/environment "ibm"/);
        expect((error as ConfigError).message).toMatch(message);
      }
    };
    bad('haproxy.balance.web=random', /haproxy\.balance\.web:/);
    bad('haproxy.replicas=0', /haproxy\.replicas: must be at least 1/);
    bad('haproxy.image.tag=latest', /haproxy\.image\.tag: must not be "latest"/);
    bad('haproxy.image.repository=Haproxy', /haproxy\.image\.repository: must be an image repository/);
    bad('haproxy.timeouts.connectSeconds=1.5', /haproxy\.timeouts\.connectSeconds: must be a whole number of seconds/);
    bad('haproxy.placement=sidecar', /haproxy\.placement:/);
    bad('haproxy.serverSlots=3', /haproxy\.serverSlots: must be at least web\.replicas \+ 1 \(4\)/);
    bad('haproxy.bogus=1', /haproxy\.bogus: unknown field/);
  });
});
