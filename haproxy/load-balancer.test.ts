/** The load balancer model on its own: hand-written specs, no environment. */
import { describe, expect, it } from 'vitest';
import { HaproxyConfigError } from './config-builder.js';
import { buildLoadBalancerConfig, renderLoadBalancer, type BackendSpec, type LoadBalancerSpec } from './load-balancer.js';

const template = { kind: 'template', prefix: 'app', count: 4, fqdn: 'app.example.internal', port: 9000, resolvers: 'dns' } as const;
const api: BackendSpec = { name: 'api', description: 'API.', balance: 'leastconn', pathPrefixes: ['/api', '/v2'], servers: template };
const web: BackendSpec = { name: 'web', description: 'Pages.', balance: 'roundrobin', pathPrefixes: [], servers: template };

const spec: LoadBalancerSpec = {
  header: ['example'],
  maxconn: 500,
  nbthread: 2,
  statsSocket: '/run/lb/admin.sock',
  hardStopAfterSeconds: 20,
  bind: { address: '', port: 8000 },
  monitorUri: '/lb-health',
  stats: { address: '', port: 8001, uri: '/stats', metricsPath: '/metrics' },
  retries: 2,
  timeouts: { connectSeconds: 3, clientSeconds: 20, serverSeconds: 25, httpRequestSeconds: 5, httpKeepAliveSeconds: 6, queueSeconds: 7 },
  healthCheck: { path: '/ready', intervalSeconds: 1.5, fall: 2, rise: 3 },
  resolvers: { name: 'dns', parseResolvConf: false, nameservers: [{ name: 'ns1', address: '10.0.0.10', port: 53 }, { name: 'ns6', address: 'fd00::a', port: 53 }], holdValidSeconds: 5, holdErrorSeconds: 15, holdObsoleteSeconds: 20, acceptedPayloadSize: 4096 },
  backends: [api, web],
};

/** Directive lines of one section, comments and blank lines dropped. */
function section(cfg: string, header: string): string[] {
  const lines = cfg.split('\n');
  const start = lines.indexOf(header);
  expect(start, header).toBeGreaterThanOrEqual(0);
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l !== '' && !l.startsWith('    ')) break;
    if (l.trim() !== '' && !l.trim().startsWith('#')) out.push(l.trim());
  }
  return out;
}

describe('load balancer spec → haproxy.cfg', () => {
  const cfg = renderLoadBalancer(spec);

  it('renders the sections in order with the spec values', () => {
    expect(cfg.split('\n').filter((l) => /^[a-z]/.test(l))).toEqual(['global', 'defaults', 'resolvers dns', 'frontend http-in', 'backend api', 'backend web', 'frontend stats']);
    expect(cfg.startsWith('# example\n')).toBe(true);
    expect(section(cfg, 'global')).toEqual(['log stdout format raw local0 info', 'maxconn 500', 'nbthread 2', 'stats socket /run/lb/admin.sock mode 600 level admin', 'stats timeout 30s', 'hard-stop-after 20s']);
    expect(section(cfg, 'defaults')).toEqual(expect.arrayContaining(['retries 2', 'timeout connect 3s', 'timeout queue 7s', 'timeout check 1500ms']));
    expect(section(cfg, 'resolvers dns')).toEqual(expect.arrayContaining(['nameserver ns1 10.0.0.10:53', 'nameserver ns6 [fd00::a]:53', 'accepted_payload_size 4096', 'hold obsolete 20s']));
  });

  it('routes every path prefix (and what is below it) to its backend, the rest to the default backend', () => {
    expect(section(cfg, 'frontend http-in')).toEqual([
      'bind :8000',
      'monitor-uri /lb-health',
      'http-request disable-l7-retry unless { method GET HEAD OPTIONS PUT DELETE }',
      'acl is_api path /api',
      'acl is_api path_beg /api/',
      'acl is_api path /v2',
      'acl is_api path_beg /v2/',
      'use_backend api if is_api',
      'default_backend web',
    ]);
    expect(section(cfg, 'backend api')).toEqual([
      'balance leastconn',
      'option httpchk GET /ready',
      'http-check expect status 200',
      'default-server inter 1500ms fall 2 rise 3',
      'server-template app 4 app.example.internal:9000 check resolvers dns init-addr none',
    ]);
  });

  it('renders static servers, backups last', () => {
    const statics = renderLoadBalancer({
      ...spec,
      resolvers: undefined,
      backends: [{ ...web, servers: { kind: 'static', servers: [{ name: 'a', address: '10.0.0.1', port: 80 }, { name: 'b', address: '10.0.0.2', port: 80, backup: true }] } }],
    });
    expect(section(statics, 'backend web').slice(-2)).toEqual(['server a 10.0.0.1:80 check', 'server b 10.0.0.2:80 check backup']);
    expect(statics).not.toContain('resolvers');
  });

  it('is deterministic', () => {
    expect(renderLoadBalancer(structuredClone(spec))).toBe(cfg);
  });
});

describe('load balancer spec checks', () => {
  const withBackends = (backends: LoadBalancerSpec['backends']): LoadBalancerSpec => ({ ...spec, backends });

  it('needs exactly one default backend and unique, well-formed routes', () => {
    expect(() => buildLoadBalancerConfig(withBackends([api]))).toThrow(/exactly one backend must have no pathPrefixes/);
    expect(() => buildLoadBalancerConfig(withBackends([web, { ...web, name: 'web2' }]))).toThrow(/found 2/);
    expect(() => buildLoadBalancerConfig(withBackends([api, { ...api, name: 'api2' }, web]))).toThrow(/\/api is routed twice/);
    expect(() => buildLoadBalancerConfig(withBackends([{ ...api, pathPrefixes: ['/api/'] }, web]))).toThrow(/must not end with "\/"/);
    expect(() => buildLoadBalancerConfig(withBackends([{ ...api, pathPrefixes: ['api'] }, web]))).toThrow(/absolute URL path/);
    expect(() => buildLoadBalancerConfig(withBackends([{ ...api, name: 'stats' }, web]))).toThrow(/reserved name "stats"/);
    expect(() => buildLoadBalancerConfig(withBackends([{ ...api, pathPrefixes: ['/lb-health'] }, web]))).toThrow(/is the monitorUri/);
  });

  it('refuses server-template without a matching resolvers section', () => {
    expect(() => buildLoadBalancerConfig({ ...spec, resolvers: undefined })).toThrow(/no resolvers section named "dns"/);
    expect(() => buildLoadBalancerConfig({ ...spec, resolvers: { ...spec.resolvers!, parseResolvConf: false, nameservers: [] } })).toThrow(/needs parseResolvConf or at least one nameserver/);
  });

  it('names the field of bad ports, counts and servers', () => {
    expect(() => buildLoadBalancerConfig({ ...spec, bind: { address: '', port: 0 } })).toThrow(/bind\.port must be a TCP port/);
    expect(() => buildLoadBalancerConfig({ ...spec, stats: { ...spec.stats, port: 8000 } })).toThrow(/stats\.port must differ from bind\.port/);
    expect(() => buildLoadBalancerConfig({ ...spec, nbthread: 65 })).toThrow(/nbthread must be an integer from 1 to 64/);
    expect(() => buildLoadBalancerConfig(withBackends([{ ...web, servers: { ...template, count: 0 } }]))).toThrow(/backends\.web\.servers\.count/);
    expect(() => buildLoadBalancerConfig(withBackends([{ ...web, servers: { kind: 'static', servers: [] } }]))).toThrow(/backends\.web\.servers must not be empty/);
    expect(() =>
      buildLoadBalancerConfig(withBackends([{ ...web, servers: { kind: 'static', servers: [{ name: 'a', address: 'x', port: 1 }, { name: 'a', address: 'y', port: 2 }] } }])),
    ).toThrow(/duplicate server name a/);
    expect(() => buildLoadBalancerConfig({ ...spec, healthCheck: { ...spec.healthCheck, path: 'ready' } })).toThrow(HaproxyConfigError);
  });
});
