import { describe, expect, it } from 'vitest';
import { HaproxyConfig } from './config-builder.js';
import { addPatroniListen } from './patroni.js';

const members = [0, 1, 2].map((i) => ({ name: `postgres-${i}`, host: `postgres-${i}`, postgresPort: 5432, apiPort: 8008 }));

describe('addPatroniListen', () => {
  it('routes TCP to the member whose Patroni API answers GET /primary', () => {
    const cfg = new HaproxyConfig();
    addPatroniListen(cfg, { name: 'postgres', bind: '*:5432', members });
    expect(cfg.render()).toBe(
      [
        '# PostgreSQL read-write (the Patroni leader only)',
        'listen postgres',
        '    mode tcp',
        '    bind *:5432',
        '    timeout client 1800s',
        '    timeout server 1800s',
        "    # Patroni's REST API: 200 only on a member in this role",
        '    option httpchk GET /primary',
        '    http-check expect status 200',
        '    default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions',
        '    server postgres-0 postgres-0:5432 check port 8008',
        '    server postgres-1 postgres-1:5432 check port 8008',
        '    server postgres-2 postgres-2:5432 check port 8008',
        '',
      ].join('\n'),
    );
  });

  it('balances replicas on GET /replica', () => {
    const cfg = new HaproxyConfig();
    addPatroniListen(cfg, { name: 'postgres-replicas', bind: '*:5433', members, role: 'replica' });
    expect(cfg.render()).toContain('option httpchk GET /replica');
    expect(cfg.render()).toContain('balance roundrobin');
  });

  it('re-resolves member names at runtime through a resolvers section when asked', () => {
    const cfg = new HaproxyConfig();
    addPatroniListen(cfg, { name: 'postgres', bind: '*:5432', members, resolvers: 'dockerdns' });
    expect(cfg.render()).toContain('    server postgres-1 postgres-1:5432 check port 8008 resolvers dockerdns init-addr last,libc,none\n');
  });

  it('rejects an empty member list and bad ports', () => {
    expect(() => addPatroniListen(new HaproxyConfig(), { name: 'postgres', bind: '*:5432', members: [] })).toThrow(/at least one/);
    expect(() => addPatroniListen(new HaproxyConfig(), { name: 'postgres', bind: '*:5432', members: [{ ...members[0], apiPort: 0 }] })).toThrow(/apiPort/);
  });
});
