import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { APP_CONFIG_KEYS, APP_SECRET_ENV, APP_UID } from '@expense-tracker/model/app-contract';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { COMPOSE_DIR, SECRET_ENV_FILES, composeTopology } from './docker-compose.js';
import { outputFiles } from '../scripts/lib/outputs.js';
import { synthesize } from './synthesize.js';
import { formatImageReference } from '@expense-tracker/model/images';

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
