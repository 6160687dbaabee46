import { describe, expect, it } from 'vitest';
import { HAPROXY } from '@expense-tracker/model/components';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { HaproxyConfigError } from '../haproxy/config-builder.js';
import { renderHaproxyConfig, type LocalTarget } from './haproxy-config.js';

const local = (overrides: Partial<LocalTarget> = {}): LocalTarget => ({
  kind: 'local',
  instances: [{ port: 18081 }, { port: 18082 }],
  port: 18080,
  statsPort: 18404,
  statsSocket: '/tmp/haproxy-test/admin.sock',
  ...overrides,
});

/** Directive lines of one section (without comments and blank lines). */
function body(cfg: string, header: string): string[] {
  const lines = cfg.split('\n');
  const start = lines.indexOf(header);
  expect(start, `section "${header}"`).toBeGreaterThanOrEqual(0);
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l !== '' && !l.startsWith('    ')) break;
    if (l.trim() !== '' && !l.trim().startsWith('#')) out.push(l.trim());
  }
  return out;
}

describe('renderHaproxyConfig: kubernetes target', () => {
  for (const name of ['local', 'ibm']) {
    const env = loadEnvironment(name, { imageTag: '1.2.3' });
    const cfg = renderHaproxyConfig(env, { kind: 'kubernetes' });

    it(`${name}: discovers web pods through the headless Service with runtime DNS`, () => {
      const template = `server-template web ${env.haproxy.serverSlots} expense-web-headless.${env.namespace}.svc.cluster.local:8080 check resolvers kubedns resolve-prefer ipv4 init-addr none`;
      expect(body(cfg, 'backend web')).toContain(template);
      expect(body(cfg, 'backend api')).toContain(template);
      expect(body(cfg, 'resolvers kubedns')).toEqual(expect.arrayContaining(['parse-resolv-conf', 'accepted_payload_size 8192', 'hold valid 10s']));
      expect(cfg).not.toMatch(/^\s*server web\d/m);
    });

    it(`${name}: global, defaults, frontend routing, health checks and metrics`, () => {
      expect(body(cfg, 'global')).toEqual([
        'log stdout format raw local0 info',
        `maxconn ${env.haproxy.maxconn}`,
        // local: limit 250m → 1 thread; ibm: limit 1 CPU → 1 thread
        'nbthread 1',
        'stats socket /var/run/haproxy/admin.sock mode 600 level admin',
        'stats timeout 30s',
        'hard-stop-after 25s',
      ]);
      expect(body(cfg, 'defaults')).toEqual(
        expect.arrayContaining([
          'mode http',
          'option httplog',
          'option forwardfor',
          'option redispatch 1',
          `retries ${env.haproxy.retries}`,
          'retry-on conn-failure empty-response 503',
          'timeout connect 5s',
        ]),
      );
      expect(body(cfg, 'frontend http-in')).toEqual([
        'bind :8080',
        `monitor-uri ${HAPROXY.monitorUri}`,
        'http-request disable-l7-retry unless { method GET HEAD OPTIONS PUT DELETE }',
        'acl is_imports path /api/imports',
        'acl is_imports path_beg /api/imports/',
        `http-request deny deny_status 413 if is_imports { req.fhdr(content-length),add(0) gt ${16 * 2 ** 30} }`,
        'use_backend imports if is_imports',
        'acl is_api path /api',
        'acl is_api path_beg /api/',
        'use_backend api if is_api',
        'default_backend web',
      ]);
      for (const [backend, balance] of [['web', env.haproxy.balance.web], ['api', env.haproxy.balance.api]]) {
        expect(body(cfg, `backend ${backend}`).slice(0, 4)).toEqual([
          `balance ${balance}`,
          'option httpchk GET /readyz',
          'http-check expect status 200',
          'default-server inter 2s fall 3 rise 2',
        ]);
      }
      expect(body(cfg, 'frontend stats')).toEqual(
        expect.arrayContaining(['bind :8404', 'http-request use-service prometheus-exporter if { path /metrics }', 'stats enable']),
      );
    });
  }

  it('follows the model: balance, slots, timeouts, health check timing, namespace and cluster domain', () => {
    const env = loadEnvironment('local', {
      imageTag: '1',
      set: ['haproxy.balance.web=leastconn', 'haproxy.serverSlots=12', 'haproxy.timeouts.serverSeconds=90', 'haproxy.healthCheck.intervalSeconds=5', 'namespace=shop'],
    });
    const cfg = renderHaproxyConfig(env, { kind: 'kubernetes', clusterDomain: 'k8s.example' });
    expect(body(cfg, 'backend web')).toEqual(
      expect.arrayContaining(['balance leastconn', 'default-server inter 5s fall 3 rise 2', expect.stringContaining('server-template web 12 expense-web-headless.shop.svc.k8s.example:8080')]),
    );
    expect(body(cfg, 'defaults')).toContain('timeout server 90s');
  });

  it('sizes nbthread to the CPU limit in whole CPUs', () => {
    const threads = (cpu: string) =>
      body(renderHaproxyConfig(loadEnvironment('ibm', { imageTag: '1', set: [`haproxy.resources.limits.cpu=${cpu}`] }), { kind: 'kubernetes' }), 'global').find((l) =>
        l.startsWith('nbthread'),
      );
    expect(threads('500m')).toBe('nbthread 1');
    expect(threads('2')).toBe('nbthread 2');
    expect(threads('2500m')).toBe('nbthread 2');
    // HAProxy's default build has at most 64 threads.
    expect(threads('100')).toBe('nbthread 64');
  });

  it('is deterministic and starts with a generated-file header', () => {
    const env = loadEnvironment('ibm', { imageTag: '1' });
    const a = renderHaproxyConfig(env, { kind: 'kubernetes' });
    expect(renderHaproxyConfig(env, { kind: 'kubernetes' })).toBe(a);
    expect(a.startsWith('# haproxy.cfg for environment "ibm", target kubernetes.\n')).toBe(true);
    expect(a.endsWith('\n')).toBe(true);
  });
});

describe('renderHaproxyConfig: local target', () => {
  const env = loadEnvironment('local', { imageTag: '1' });

  it('lists one checked server per instance on loopback, backups last-resort', () => {
    const cfg = renderHaproxyConfig(env, local({ instances: [{ port: 18081 }, { port: 18082 }, { port: 18083, backup: true }] }));
    const servers = body(cfg, 'backend web').filter((l) => l.startsWith('server'));
    expect(servers).toEqual(['server web1 127.0.0.1:18081 check', 'server web2 127.0.0.1:18082 check', 'server web-backup1 127.0.0.1:18083 check backup']);
    expect(body(cfg, 'backend api').filter((l) => l.startsWith('server'))).toEqual(servers);
    expect(body(cfg, 'frontend http-in')[0]).toBe('bind 127.0.0.1:18080');
    expect(body(cfg, 'frontend stats')[0]).toBe('bind 127.0.0.1:18404');
    expect(body(cfg, 'global')).toContain('stats socket /tmp/haproxy-test/admin.sock mode 600 level admin');
    expect(cfg).not.toContain('nbthread');
    expect(cfg).not.toContain('resolvers');
    expect(cfg).not.toContain('server-template');
  });

  it('takes health check overrides (tests shorten the interval)', () => {
    const cfg = renderHaproxyConfig(env, local({ healthCheck: { intervalSeconds: 0.5, fall: 2 } }));
    expect(body(cfg, 'backend web')).toContain('default-server inter 500ms fall 2 rise 2');
  });

  it('rejects an empty instance list, bad ports, a socket path with spaces and a disabled environment', () => {
    expect(() => renderHaproxyConfig(env, local({ instances: [] }))).toThrow(/instances must not be empty/);
    expect(() => renderHaproxyConfig(env, local({ instances: [{ port: 70000 }] }))).toThrow(/web1.port must be a TCP port/);
    expect(() => renderHaproxyConfig(env, local({ port: 18404 }))).toThrow(/stats.port must differ from bind.port/);
    expect(() => renderHaproxyConfig(env, local({ instances: [{ port: 18081, backup: true }] }))).toThrow(/at least one server must not be a backup/);
    expect(() => renderHaproxyConfig(env, local({ statsSocket: '/tmp/my dir/admin.sock' }))).toThrow(HaproxyConfigError);
    const off = loadEnvironment('local', { imageTag: '1', set: ['haproxy.enabled=false', 'compose.enabled=false'] });
    expect(() => renderHaproxyConfig(off, { kind: 'kubernetes' })).toThrow(/haproxy.enabled is false/);
  });
});

describe('renderHaproxyConfig: compose target', () => {
  const env = loadEnvironment('local', { imageTag: '1' });
  const cfg = renderHaproxyConfig(env, { kind: 'compose', service: 'web', composeFile: 'dist/local/compose/docker-compose.yml' });

  it('resolves the compose service through Docker DNS, everything else as in the cluster', () => {
    expect(body(cfg, 'resolvers dockerdns')).toEqual(expect.arrayContaining(['nameserver docker 127.0.0.11:53', 'hold valid 10s']));
    expect(cfg).not.toContain('parse-resolv-conf');
    expect(body(cfg, 'backend web')).toContain(`server-template web ${env.haproxy.serverSlots} web:8080 check resolvers dockerdns init-addr none`);
    const kube = renderHaproxyConfig(env, { kind: 'kubernetes' });
    for (const section of ['global', 'defaults', 'frontend http-in', 'frontend stats']) expect(body(cfg, section), section).toEqual(body(kube, section));
  });

  it('gives every replica a slot when replicas exceed the cluster slots', () => {
    const many = loadEnvironment('local', { imageTag: '1', set: ['web.replicas=9', 'haproxy.serverSlots=10'] });
    expect(body(renderHaproxyConfig(many, { kind: 'compose', service: 'web', composeFile: 'x' }), 'backend web')).toContain(
      'server-template web 10 web:8080 check resolvers dockerdns init-addr none',
    );
  });
});
