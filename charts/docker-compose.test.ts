import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { APP_CONFIG_KEYS, APP_SECRET_ENV, APP_UID } from '@expense-tracker/model/app-contract';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { COMPOSE_DIR, SECRET_ENV_FILES, composeTopology, patroniMemberNames, VOLUME_OWNER_SERVICE } from './docker-compose.js';
import { ETCD, POSTGRES, POSTGRES_HA } from '@expense-tracker/model/components';
import { PATRONI_UID } from './postgres-ha.js';
import { outputFiles } from '../scripts/lib/outputs.js';
import { synthesize } from './synthesize.js';
import { formatImageReference, PINNED_IMAGES } from '@expense-tracker/model/images';

type Service = Record<string, unknown> & { environment?: Record<string, string>; depends_on?: Record<string, { condition: string }> };

describe('compose renderer', () => {
  const env = loadEnvironment('local');
  const files = new Map([...outputFiles(synthesize(env))].filter(([name]) => name.startsWith(`${COMPOSE_DIR}/`)));
  const text = files.get(`${COMPOSE_DIR}/docker-compose.yml`)!;
  const model = parse(text, { version: '1.1' }) as { services: Record<string, Service>; volumes: Record<string, unknown> };

  it('is deterministic and lives in a subdirectory kubectl apply -f dist/<env> does not read', () => {
    expect([...files.keys()]).toEqual([`${COMPOSE_DIR}/docker-compose.yml`, `${COMPOSE_DIR}/haproxy.cfg`]);
    expect(new Map([...outputFiles(synthesize(env))].filter(([name]) => name.startsWith(`${COMPOSE_DIR}/`)))).toEqual(files);
  });

  it('runs web x web.replicas from the model, hardened as the chart', () => {
    const web = model.services.web!;
    expect(web.scale).toBe(env.web.replicas);
    expect(web.image).toBe(formatImageReference(env.image));
    expect(web.user).toBe(`${APP_UID}:${APP_UID}`);
    expect(web).toMatchObject({ read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges'], init: true, tmpfs: ['/tmp'] });
    expect(Object.keys(web.environment!).sort()).toEqual([...APP_CONFIG_KEYS].sort());
  });

  it('orders start-up with depends_on conditions and keeps Postgres on a named volume', () => {
    expect(model.services.migrate!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(model.services.web!.depends_on).toMatchObject({ migrate: { condition: 'service_completed_successfully' }, redis: { condition: 'service_healthy' } });
    expect(model.services.haproxy!.depends_on).toEqual({ web: { condition: 'service_healthy' } });
    expect(model.services.postgres!.volumes).toEqual(['postgres-data:/var/lib/postgresql/data']);
    expect(Object.keys(model.volumes)).toEqual(['postgres-data']);
    for (const name of ['postgres', 'redis', 'web', 'haproxy']) expect(model.services[name]!.healthcheck, name).toBeDefined();
    // YAML 1.1 readers (docker-compose 1.x) must see the string "no", not false.
    expect(model.services.migrate!.restart).toBe('no');
  });

  it('carries no secret value: every secret variable comes from an env file', () => {
    const inline = Object.values(model.services).flatMap((s) => Object.keys(s.environment ?? {}));
    for (const secret of [...Object.keys(APP_SECRET_ENV), 'POSTGRES_PASSWORD', 'REDISCLI_AUTH']) expect(inline).not.toContain(secret);
    expect(SECRET_ENV_FILES['app.env']).toEqual(expect.arrayContaining(Object.keys(APP_SECRET_ENV)));
    expect(text).not.toMatch(/PASSWORD=|SECRET=|API_KEY=/);
  });

  it('points HAProxy at the compose service through Docker DNS', () => {
    const cfg = files.get(`${COMPOSE_DIR}/haproxy.cfg`)!;
    expect(cfg).toMatch(/server-template web \d+ web:8080 check resolvers dockerdns init-addr none/);
    expect(cfg).toContain('resolvers dockerdns');
    expect(cfg).toContain('nameserver docker 127.0.0.11:53');
    expect(cfg).not.toContain('parse-resolv-conf');
  });

  it("uses the chart's app settings and writes nothing for an environment without compose", () => {
    const result = synthesize(env);
    const web = model.services.web!;
    // The app's settings; not the IMPORT_* ones (no staging volume or worker in this topology).
    const appSettings = Object.fromEntries(Object.entries(result.configData).filter(([k]) => (APP_CONFIG_KEYS as readonly string[]).includes(k)));
    expect(web.environment).toEqual({ ...appSettings, PUBLIC_BASE_URL: 'http://127.0.0.1:${HAPROXY_PORT:-8080}' });
    expect(Object.keys(result.configData)).toContain('IMPORT_STAGING_DIR');
    expect([...outputFiles(synthesize(loadEnvironment('ibm'))).keys()].some((f) => f.startsWith(`${COMPOSE_DIR}/`))).toBe(false);
  });

  it('refuses an environment without HAProxy', () => {
    const off = loadEnvironment('ibm', { set: ['haproxy.enabled=false'] });
    expect(() => composeTopology(off, synthesize(off).configData)).toThrow(/haproxy\.enabled is false/);
  });
});

describe('compose renderer, postgres.mode=ha', () => {
  const env = loadEnvironment('local', { set: ['postgres.mode=ha'] });
  const files = new Map([...outputFiles(synthesize(env))].filter(([name]) => name.startsWith(`${COMPOSE_DIR}/`)));
  const model = parse(files.get(`${COMPOSE_DIR}/docker-compose.yml`)!, { version: '1.1' }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
  const members = patroniMemberNames(env);
  const cfg = files.get(`${COMPOSE_DIR}/haproxy.cfg`)!;

  it('runs postgres.ha.members Patroni members named like the StatefulSet pods, etcd, and no single postgres', () => {
    expect(members).toEqual(Array.from({ length: env.postgres.ha.members }, (_, i) => `${POSTGRES.name}-${i}`));
    expect(Object.keys(model.services).sort()).toEqual([...members, ETCD.name, 'haproxy', 'migrate', 'redis', VOLUME_OWNER_SERVICE, 'web'].sort());
    expect(model.services.etcd!.image).toBe(formatImageReference(PINNED_IMAGES.etcd));
    for (const m of members) {
      const s = model.services[m]!;
      expect(s.image).toBe(formatImageReference(env.postgres.ha.image));
      expect(s.environment).toMatchObject({ PATRONI_NAME: m, PATRONI_POSTGRESQL_CONNECT_ADDRESS: `${m}:${POSTGRES.port}`, PATRONI_RESTAPI_CONNECT_ADDRESS: `${m}:${POSTGRES_HA.apiPort}` });
      expect(s.depends_on).toEqual({ etcd: { condition: 'service_healthy' } });
    }
  });

  it('gives every member its own named volume, handed to its UID by the one-shot volume-owner', () => {
    const volumes = members.map((m) => (model.services[m]!.volumes as { source?: string; volume?: unknown }[])[0]!);
    expect(volumes.map((v) => v.source)).toEqual(members.map((m) => `${m}-data`));
    for (const v of volumes) expect(v).toMatchObject({ type: 'volume', target: POSTGRES.dataMountPath, volume: { nocopy: true } });
    expect(Object.keys(model.volumes).sort()).toEqual([...members.map((m) => `${m}-data`), 'etcd-data'].sort());
    const owner = model.services[VOLUME_OWNER_SERVICE]!;
    expect(owner).toMatchObject({ cap_drop: ['ALL'], cap_add: ['CHOWN'], read_only: true, network_mode: 'none', restart: 'no' });
    expect((owner.command as string[]).join(' ')).toContain(`chown ${PATRONI_UID}:${PATRONI_UID} /volumes/${members[0]}-data`);
    expect(model.services.etcd!.depends_on).toEqual({ [VOLUME_OWNER_SERVICE]: { condition: 'service_completed_successfully' } });
  });

  it('hardens members and etcd as the other services: high numeric UIDs, read-only roots, no capabilities', () => {
    for (const [name, uid] of [...members.map((m) => [m, PATRONI_UID] as const), [ETCD.name, ETCD.uid] as const]) {
      expect(model.services[name], name).toMatchObject({ user: `${uid}:${uid}`, read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges'], init: true });
      expect(uid).toBeGreaterThanOrEqual(10000);
    }
  });

  it('configures Patroni with etcd v3 as its DCS and synchronous_mode as in Kubernetes, with no secret in the files', () => {
    const patroni = parse(files.get(`${COMPOSE_DIR}/patroni/patroni.yaml`)!) as any;
    expect(patroni.etcd3).toEqual({ hosts: [`${ETCD.name}:${ETCD.clientPort}`] });
    expect(patroni).not.toHaveProperty('kubernetes');
    expect(patroni.bootstrap.dcs).toMatchObject({ synchronous_mode: env.postgres.ha.synchronousMode, ttl: env.postgres.ha.timing.ttlSeconds });
    expect(files.get(`${COMPOSE_DIR}/patroni/post-bootstrap.sh`)).toContain('\\getenv password POSTGRES_PASSWORD');
    for (const m of members) expect(model.services[m]!.env_file).toEqual(expect.arrayContaining([expect.stringMatching(/\/patroni\.env$/), expect.stringMatching(/\/postgres\.env$/)]));
    expect(SECRET_ENV_FILES['patroni.env']).toEqual(['PATRONI_SUPERUSER_PASSWORD', 'PATRONI_REPLICATION_PASSWORD']);
    expect([...files.values()].join('\n')).not.toMatch(/PASSWORD=/);
  });

  it("puts HAProxy's listen postgres (option httpchk GET /primary) in front of the members, under the name the app connects to", () => {
    expect(cfg).toContain(`listen ${POSTGRES.name}\n    mode tcp\n    bind *:${POSTGRES.port}\n`);
    expect(cfg).toContain('option httpchk GET /primary');
    expect(cfg).toContain('default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions');
    for (const m of members) expect(cfg).toContain(`server ${m} ${m}:${POSTGRES.port} check port ${POSTGRES_HA.apiPort} resolvers dockerdns init-addr last,libc,none`);
    const haproxy = model.services.haproxy!;
    expect(haproxy.networks).toEqual({ default: { aliases: [POSTGRES.name] } });
    expect(model.services.web!.environment!.PGHOST).toBe(POSTGRES.name);
    // migrate waits until HAProxy has exactly one server UP (the primary); HAProxy waits for ready members.
    expect(model.services.migrate!.depends_on).toEqual({ haproxy: { condition: 'service_healthy' } });
    expect(JSON.stringify(haproxy.healthcheck)).toContain(`haproxy_backend_active_servers{proxy=\\"${POSTGRES.name}\\"} 1$$`);
    expect(haproxy.depends_on).toEqual(Object.fromEntries(members.map((m) => [m, { condition: 'service_healthy' }])));
  });

  it('leaves the single-mode topology without Patroni files', () => {
    const single = [...outputFiles(synthesize(loadEnvironment('local')))].map(([name]) => name);
    expect(single.filter((n) => n.startsWith(`${COMPOSE_DIR}/patroni/`))).toEqual([]);
    expect([...files.keys()].filter((n) => n.startsWith(`${COMPOSE_DIR}/patroni/`)).sort()).toEqual(['patroni.yaml', 'post-bootstrap.sh', 'run.sh'].map((f) => `${COMPOSE_DIR}/patroni/${f}`));
  });

  it('runs no backups (postgres.backup is for the Kubernetes deployment) and says so in the file', () => {
    const withBackup = loadEnvironment('local', { set: ['postgres.mode=ha', 'postgres.backup.enabled=true', 'postgres.backup.repository=pvc'] });
    const out = new Map([...outputFiles(synthesize(withBackup))].filter(([name]) => name.startsWith(`${COMPOSE_DIR}/`)));
    expect(out.get(`${COMPOSE_DIR}/docker-compose.yml`)).toContain('# postgres.backup applies to the Kubernetes deployment only');
    expect(out.get(`${COMPOSE_DIR}/patroni/patroni.yaml`)).not.toMatch(/archive_command|pgbackrest/);
    expect(files.get(`${COMPOSE_DIR}/docker-compose.yml`)).not.toContain('postgres.backup applies');
  });
});
