/**
 * The stand-in base images (test/images/) keep the contracts of the official images the charts
 * and app/Dockerfile name: tags, numeric UIDs, paths, entrypoint behaviour, and the Postgres
 * init-on-empty-data-dir flow driven by POSTGRES_* variables. The chart's own postgres and redis
 * containers (command, arguments, environment, UIDs ≥ 10000, Secret files, probes) run on them too.
 */
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { formatImageReference, HAPROXY_IMAGE_UID, POSTGRES_IMAGE_UID, REDIS_IMAGE_UID } from '@expense-tracker/model/images';
import { BASE_IMAGES, BUILD_KEY_LABEL, ensureBaseImages } from '@expense-tracker/tools/docker-engine/images';
import { freePort } from '@expense-tracker/tools/process/ports';
import { PATRONI_IMAGE_CONTRACT, PATRONI_UID } from '../../charts/postgres-ha.js';
import { synthesize, synthesizeEnvironment } from '../../charts/synthesize.js';
import { createNetwork, createVolume, d, eventually, exec, logsOf, runContainer, setupEngine, teardownEngine, type TestEngine } from './support/docker.js';

const local = loadEnvironment('local');
const tagOf = (dir: string) => BASE_IMAGES.find((b) => b.dir === dir)!.tag;
const NODE = tagOf('node');
const POSTGRES = tagOf('postgres');
const REDIS = tagOf('redis');
const HAPROXY = tagOf('haproxy');

let engine: TestEngine;
let net: string;

beforeAll(async () => {
  engine = await setupEngine();
  net = await createNetwork(engine, 'base');
});
afterAll(async () => {
  await teardownEngine(engine);
});

/** UIDs of a container's processes as the host's `ps` sees them (`docker top`). */
async function processUids(container: string): Promise<number[]> {
  const top = await d(['top', container, '-eo', 'pid,uid,comm']);
  return top.stdout
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() && !/docker-init|tini/.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[1]));
}

describe('tags', () => {
  it('are exactly the references the charts use', () => {
    const tags = BASE_IMAGES.map((b) => b.tag);
    expect(tags).toContain(formatImageReference(local.postgres.image));
    expect(tags).toContain(formatImageReference(local.redis.image));
    expect(tags).toContain(formatImageReference(local.haproxy.image));
    expect(tags).toContain('registry:2');
  });

  it('a warm run rebuilds nothing (every image carries its build key)', async () => {
    const results = await ensureBaseImages();
    expect(results.filter((r) => !r.cached).map((r) => r.tag)).toEqual([]);
    for (const r of results) {
      const key = (await d(['image', 'inspect', '--format', `{{index .Config.Labels "${BUILD_KEY_LABEL}"}}`, r.tag])).stdout.trim();
      expect(key, r.tag).toMatch(/^[0-9a-f]{64}$/);
    }
  });
});

describe('node', () => {
  it('provides node 20.18.1 and npm, and runs options through node like the official entrypoint', async () => {
    const node = await d(['run', '--rm', NODE, 'node', '--version']);
    expect(node.stdout.trim()).toBe('v20.18.1');
    const npm = await d(['run', '--rm', NODE, 'npm', '--version']);
    expect(npm.stdout.trim()).toBe('10.8.2');
    const viaEntrypoint = await d(['run', '--rm', '--user', '1000', NODE, '-p', 'process.getuid() + " " + process.versions.node']);
    expect(viaEntrypoint.stdout.trim()).toBe('1000 20.18.1');
    const headers = await d(['run', '--rm', NODE, 'test', '-f', '/usr/local/include/node/node_api.h'], { reject: false });
    expect(headers.exitCode).toBe(0);
  });
});

describe('patroni', () => {
  it('keeps the HA image contract: Patroni 4, pgBackRest, PostgreSQL 15 in /usr/pgsql-15/bin, UID 26, read-only root', async () => {
    const run = await d(['run', '--rm', '--network', 'none', '--read-only', tagOf('patroni'), 'sh', '-c', 'id -u; id -g; patroni --version; pgbackrest version; /usr/pgsql-15/bin/postgres --version; for c in psql patronictl; do command -v "$c" || echo "$c: not on PATH"; done']);
    const lines = run.stdout.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['26', '26']);
    expect(lines[2]).toMatch(/^patroni 4\./);
    expect(lines[3]).toMatch(/^pgBackRest 2\./);
    expect(lines[4]).toMatch(/PostgreSQL\) 15\./);
    // One `command -v` per name: the image's /bin/sh is dash, whose `command -v` (like POSIX's)
    // reports only its first operand.
    expect(lines.slice(5)).toEqual(['/usr/pgsql-15/bin/psql', '/usr/local/bin/patronictl']);
  });

  it('gives any UID a name through nss_wrapper at the path the construct preloads', async () => {
    // As run.sh does it in a member: a passwd entry for the pod's UID in $HOME, then initdb.
    const script = [
      'export HOME=/tmp',
      'printf "postgres:x:%s:%s:PostgreSQL:/tmp:/bin/sh\\n" "$(id -u)" "$(id -g)" >/tmp/passwd',
      'printf "postgres:x:%s:\\n" "$(id -g)" >/tmp/group',
      `LD_PRELOAD=${PATRONI_IMAGE_CONTRACT.nssWrapperLibrary} NSS_WRAPPER_PASSWD=/tmp/passwd NSS_WRAPPER_GROUP=/tmp/group sh -c 'id -un; ${PATRONI_IMAGE_CONTRACT.binDir}/initdb -D /tmp/pgdata -A trust >/dev/null && echo initdb ok'`,
    ].join('; ');
    const run = await d(['run', '--rm', '--network', 'none', '--read-only', '--tmpfs', '/tmp', '--user', `${PATRONI_UID}:${PATRONI_UID}`, tagOf('patroni'), 'sh', '-c', script]);
    expect(run.stdout.trim().split('\n')).toEqual(['postgres', 'initdb ok']);
  });
});

describe('postgres', () => {
  it('refuses to initialize without a password, naming POSTGRES_PASSWORD', async () => {
    const r = await runContainer(engine, { name: `etk-pgnopw-${engine.run}`, image: POSTGRES, foreground: true, volumes: [`${await createVolume(engine, 'pgnopw')}:/var/lib/postgresql/data`] });
    expect(r.exitCode).toBe(1);
    expect(String(r.all)).toContain('POSTGRES_PASSWORD');
  });

  it('initializes an empty PGDATA from POSTGRES_USER/PASSWORD/DB as UID 999, serves password logins over the network, keeps data across restarts', async () => {
    const volume = await createVolume(engine, 'pgdata');
    const name = `etk-pg-${engine.run}`;
    const env = { POSTGRES_USER: 'expense', POSTGRES_PASSWORD: 'pg-test-secret', POSTGRES_DB: 'expenses', PGDATA: '/var/lib/postgresql/data/pgdata' };
    // As the chart runs it: numeric UID, read-only root, only the socket dir and /tmp writable.
    await runContainer(engine, {
      name,
      image: POSTGRES,
      network: net,
      aliases: ['pg'],
      env,
      user: `${POSTGRES_IMAGE_UID}:${POSTGRES_IMAGE_UID}`,
      readOnly: true,
      tmpfs: ['/var/run/postgresql', '/tmp'],
      capDropAll: true,
      noNewPrivileges: true,
      volumes: [`${volume}:/var/lib/postgresql/data`],
    });
    const ready = () => exec(name, ['pg_isready', '-h', '127.0.0.1', '-U', 'expense', '-d', 'expenses']).then((r) => r.exitCode === 0);
    await eventually('postgres to accept TCP connections', ready, 90, () => logsOf(name));
    expect(await logsOf(name, 200)).toContain('PostgreSQL init process complete');
    expect(await processUids(name)).toSatisfy((uids: number[]) => uids.length > 0 && uids.every((u) => u === POSTGRES_IMAGE_UID));

    // A client in another container, by DNS name, with scram-sha-256 password authentication.
    const url = 'postgresql://expense:pg-test-secret@pg:5432/expenses';
    const client = (sql: string) => d(['run', '--rm', '--network', net, '--label', `org.expense-tracker.test-run=${engine.run}`, POSTGRES, 'psql', url, '-tAc', sql], { reject: false });
    const created = await client('CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$survives$$); SELECT current_user');
    expect(created.exitCode, String(created.all)).toBe(0);
    expect(created.stdout.trim().split('\n').at(-1)).toBe('expense');
    const wrong = await d(['run', '--rm', '--network', net, POSTGRES, 'psql', 'postgresql://expense:wrong@pg:5432/expenses', '-c', 'select 1'], { reject: false });
    expect(wrong.exitCode).not.toBe(0);
    expect(String(wrong.all)).toMatch(/password authentication failed/);

    await d(['restart', '--time', '30', name]);
    await eventually('postgres to come back', ready, 60, () => logsOf(name));
    expect(await logsOf(name, 200)).toContain('Skipping initialization');
    const kept = await client('SELECT v FROM kept');
    expect(kept.stdout.trim()).toBe('survives');
  });
});

describe('redis', () => {
  it("runs the chart's redis-server arguments as UID 999 in /data with protected mode off", async () => {
    const name = `etk-redis-${engine.run}`;
    await runContainer(engine, {
      name,
      image: REDIS,
      network: net,
      aliases: ['cache'],
      command: ['redis-server', '--port', '6379', '--dir', '/data', '--requirepass', 'redis-test-secret', '--appendonly', 'no', '--save', ''],
    });
    const cli = (...args: string[]) => d(['run', '--rm', '--network', net, REDIS, 'redis-cli', '-h', 'cache', ...args], { reject: false });
    await eventually('redis PONG', async () => (await cli('-a', 'redis-test-secret', '--no-auth-warning', 'ping')).stdout.trim() === 'PONG', 30, () => logsOf(name));
    expect((await cli('ping')).stdout).toMatch(/NOAUTH/);
    expect(await processUids(name)).toEqual([REDIS_IMAGE_UID]);
    const dir = await cli('-a', 'redis-test-secret', '--no-auth-warning', 'config', 'get', 'dir');
    expect(dir.stdout.split('\n')[1]).toBe('/data');
  });

  it('answers clients on other hosts without a password when none is set (official default)', async () => {
    const name = `etk-redis2-${engine.run}`;
    await runContainer(engine, { name, image: REDIS, network: net, aliases: ['open'] });
    await eventually(
      'redis PONG from another container',
      async () => (await d(['run', '--rm', '--network', net, REDIS, 'redis-cli', '-h', 'open', 'ping'], { reject: false })).stdout.trim() === 'PONG',
      30,
      () => logsOf(name),
    );
  });
});

describe('haproxy', () => {
  it('runs /usr/local/etc/haproxy/haproxy.cfg as UID 99 on a read-only root and serves it on a published port', async () => {
    const cfgDir = join(engine.scratch, 'haproxy');
    mkdirSync(cfgDir, { recursive: true });
    writeFileSync(
      join(cfgDir, 'haproxy.cfg'),
      [
        'global',
        '  log stdout format raw local0',
        'defaults',
        '  mode http',
        '  timeout connect 5s',
        '  timeout client 30s',
        '  timeout server 30s',
        'frontend http-in',
        '  bind :8080',
        '  http-request use-service prometheus-exporter if { path /metrics }',
        '  http-request return status 200 content-type text/plain string "haproxy ok\\n"',
        '',
      ].join('\n'),
    );
    const check = await d(['run', '--rm', '-v', `${cfgDir}:/usr/local/etc/haproxy:ro`, HAPROXY, 'haproxy', '-c', '-f', '/usr/local/etc/haproxy/haproxy.cfg'], { reject: false });
    expect(check.exitCode, String(check.all)).toBe(0);

    const port = await freePort();
    const name = `etk-hap-${engine.run}`;
    await runContainer(engine, {
      name,
      image: HAPROXY,
      network: net,
      publish: [[port, 8080]],
      readOnly: true,
      capDropAll: true,
      noNewPrivileges: true,
      volumes: [`${cfgDir}:/usr/local/etc/haproxy:ro`],
    });
    const body = await eventually('haproxy on the published port', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      return res.status === 200 ? res.text() : undefined;
    }, 30, () => logsOf(name));
    expect(body).toBe('haproxy ok\n');
    expect((await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())).toContain('haproxy_process_');
    expect(await processUids(name)).toSatisfy((uids: number[]) => uids.length >= 2 && uids.every((u) => u === HAPROXY_IMAGE_UID));
  });
});

describe('exporters', () => {
  /** The exporter containers exactly as the chart's Deployments configure them (ibm, monitoring on). */
  function chartExporters(): Record<string, { image: string; args: string[]; env: Record<string, string>; uid: number; credentialsDir?: string }> {
    const out: ReturnType<typeof chartExporters> = {};
    for (const o of synthesize(loadEnvironment('ibm', { imageTag: '1.0.0' })).objects as any[]) {
      if (o.kind !== 'Deployment' || !/-exporter$/.test(o.metadata.name)) continue;
      const pod = o.spec.template.spec;
      const c = pod.containers[0];
      out[o.metadata.name] = {
        image: c.image,
        args: c.args ?? [],
        env: Object.fromEntries((c.env ?? []).filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value])),
        uid: pod.securityContext.runAsUser,
        credentialsDir: c.volumeMounts?.[0]?.mountPath,
      };
    }
    return out;
  }
  const metrics = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

  it("postgres_exporter runs the chart's configuration as UID 65534 on a read-only root, credentials from files", async () => {
    const x = chartExporters()['postgres-exporter'];
    expect(BASE_IMAGES.map((b) => b.tag)).toContain(x.image);
    // PostgreSQL under the chart's Service name, with the credentials the Secret holds.
    const pgName = `etk-pgx-${engine.run}`;
    await runContainer(engine, { name: pgName, image: POSTGRES, network: net, aliases: ['postgres'], env: { POSTGRES_USER: 'expense', POSTGRES_PASSWORD: 'exporter-secret', POSTGRES_DB: 'expenses' } });
    await eventually('postgres ready', () => exec(pgName, ['pg_isready', '-h', '127.0.0.1', '-U', 'expense', '-d', 'expenses']).then((r) => r.exitCode === 0), 90, () => logsOf(pgName));
    const creds = join(engine.scratch, 'pg-exporter-credentials');
    mkdirSync(creds, { recursive: true });
    writeFileSync(join(creds, 'username'), 'expense');
    writeFileSync(join(creds, 'password'), 'exporter-secret');
    const port = await freePort();
    const name = `etk-pgexp-${engine.run}`;
    await runContainer(engine, {
      name,
      image: x.image,
      network: net,
      env: x.env,
      command: x.args,
      publish: [[port, 9187]],
      user: `${x.uid}:${x.uid}`,
      readOnly: true,
      capDropAll: true,
      noNewPrivileges: true,
      volumes: [`${creds}:${x.credentialsDir}:ro`],
    });
    await eventually('pg_up 1', async () => /^pg_up 1$/m.test(await metrics(port).catch(() => '')), 60, () => logsOf(name));
    const text = await metrics(port);
    expect(text).toMatch(/^pg_stat_database_xact_commit\{.*datname="expenses"/m);
    // --disable-settings-metrics: no pg_settings_* series.
    expect(text).not.toMatch(/^pg_settings_/m);
    expect(await processUids(name)).toEqual([x.uid]);
  });

  it("redis_exporter authenticates with the password map its chart init container derives from the Secret file, as UID 59000 on read-only roots", async () => {
    const o: any = synthesize(loadEnvironment('ibm', { imageTag: '1.0.0' })).objects.find((x: any) => x.kind === 'Deployment' && x.metadata.name === 'redis-exporter');
    const pod = o.spec.template.spec;
    const [init] = pod.initContainers;
    const c = pod.containers[0];
    expect(BASE_IMAGES.map((b) => b.tag)).toContain(c.image);
    // ibm pins the Redis image by digest; the stand-in carries its tag.
    expect(init.image.split('@')[0]).toBe(REDIS);
    expect(JSON.stringify(pod)).not.toContain('secretKeyRef');
    const uid = pod.securityContext.runAsUser;
    const password = String.raw`exporter "s3cr3t" \x9 100%`;
    const redisName = `etk-redisx-${engine.run}`;
    await runContainer(engine, { name: redisName, image: REDIS, network: net, aliases: ['redis'], command: ['redis-server', '--requirepass', password, '--save', '', '--appendonly', 'no'] });
    // The Secret volume as the kubelet writes it, and the memory emptyDir (owned by the pod's group).
    const secretVolume = pod.volumes.find((v: any) => v.secret).secret;
    const secretDir = join(engine.scratch, 'redis-exporter-secret');
    mkdirSync(secretDir, { recursive: true });
    for (const item of secretVolume.items) {
      writeFileSync(join(secretDir, item.path), `${password}\n`);
      chownSync(join(secretDir, item.path), 0, pod.securityContext.fsGroup);
      chmodSync(join(secretDir, item.path), secretVolume.defaultMode);
    }
    const derivedDir = join(engine.scratch, 'redis-exporter-derived');
    mkdirSync(derivedDir, { recursive: true });
    chownSync(derivedDir, 0, pod.securityContext.fsGroup);
    chmodSync(derivedDir, 0o2777);
    const mountOf = (container: any, volume: string) => container.volumeMounts.find((m: any) => m.name === volume).mountPath;
    const secretName = pod.volumes.find((v: any) => v.secret).name;
    const derivedName = pod.volumes.find((v: any) => v.emptyDir?.medium === 'Memory').name;
    const securityOf = (container: any) => ({ user: `${container.securityContext.runAsUser}:${container.securityContext.runAsGroup}`, readOnly: true, capDropAll: true, noNewPrivileges: true });
    const initRun = await runContainer(engine, {
      name: `etk-redisexp-init-${engine.run}`,
      image: REDIS,
      foreground: true,
      entrypoint: init.command[0],
      command: init.command.slice(1),
      ...securityOf(init),
      volumes: [`${secretDir}:${mountOf(init, secretName)}:ro`, `${derivedDir}:${mountOf(init, derivedName)}`],
    });
    expect(initRun.exitCode, initRun.all).toBe(0);
    const port = await freePort();
    const name = `etk-redisexp-${engine.run}`;
    await runContainer(engine, {
      name,
      image: c.image,
      network: net,
      env: Object.fromEntries(c.env.map((e: any) => [e.name, e.value])),
      command: c.args,
      publish: [[port, c.ports[0].containerPort]],
      ...securityOf(c),
      // The exporter sees only the derived map, not the Secret.
      volumes: [`${derivedDir}:${mountOf(c, derivedName)}:ro`],
    });
    await eventually('redis_up 1', async () => /^redis_up 1$/m.test(await metrics(port).catch(() => '')), 60, () => logsOf(name));
    expect(await metrics(port)).toMatch(/^redis_connected_clients \d+/m);
    expect(await processUids(name)).toEqual([uid]);
    // The readiness page answers without the exporter querying Redis.
    expect((await fetch(`http://127.0.0.1:${port}${c.readinessProbe.httpGet.path}`)).status).toBe(200);
    const visible = await exec(name, ['sh', '-c', 'cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n"']);
    expect(visible.stdout).not.toContain('s3cr3t');
  });
});

describe("the chart's postgres, redis and haproxy containers on the stand-in images", () => {
  /** The chart's pod spec and first container of one workload (local environment). */
  function chartPod(kind: string, name: string): { pod: any; c: any } {
    const o: any = synthesizeEnvironment(loadEnvironment('local')).find((x) => x.kind === kind && x.metadata.name === name);
    return { pod: o.spec.template.spec, c: o.spec.template.spec.containers[0] };
  }
  /**
   * The Secret volume as the kubelet writes it (root-owned files, the volume's defaultMode,
   * group fsGroup), in a host directory to bind-mount at the container's mount path.
   */
  function secretDir(pod: any, c: any, values: Readonly<Record<string, string>>): string[] {
    const mounts: string[] = [];
    for (const m of c.volumeMounts.filter((x: any) => x.mountPath.startsWith('/run/secrets/'))) {
      const secret = pod.volumes.find((v: any) => v.name === m.name).secret;
      const dir = join(engine.scratch, `chart-${m.name}`);
      mkdirSync(dir, { recursive: true });
      for (const item of secret.items) {
        const file = join(dir, item.path);
        writeFileSync(file, values[item.key]);
        chownSync(file, 0, pod.securityContext.fsGroup);
        chmodSync(file, secret.defaultMode);
      }
      mounts.push(`${dir}:${m.mountPath}:ro`);
    }
    return mounts;
  }
  const emptyDirs = (pod: any, c: any) => c.volumeMounts.filter((m: any) => pod.volumes.some((v: any) => v.name === m.name && v.emptyDir)).map((m: any) => m.mountPath);
  const probe = (container: string, p: any) => exec(container, p.exec.command).then((r) => r.exitCode);

  it('postgres initializes and serves as UID 10002 with its credentials from files; both probes pass', async () => {
    const { pod, c } = chartPod('StatefulSet', 'postgres');
    const uid = pod.securityContext.runAsUser;
    expect(uid).toBe(10002);
    expect(c.image).toBe(POSTGRES);
    const password = 'pg "chart" secret';
    const secrets = secretDir(pod, c, { username: 'expense', password, database: 'expenses' });
    // The claim as fsGroup with OnRootMismatch leaves it: group fsGroup, setgid, group-writable.
    const data = join(engine.scratch, 'chart-pgdata');
    mkdirSync(data, { recursive: true });
    chownSync(data, 0, pod.securityContext.fsGroup);
    chmodSync(data, 0o2775);
    const claim = c.volumeMounts.find((m: any) => m.name === 'data').mountPath;
    const name = `etk-chartpg-${engine.run}`;
    await runContainer(engine, {
      name,
      image: c.image,
      network: net,
      aliases: ['chartpg'],
      env: Object.fromEntries(c.env.map((e: any) => [e.name, e.value])),
      user: `${uid}:${pod.securityContext.runAsGroup}`,
      readOnly: true,
      tmpfs: emptyDirs(pod, c),
      capDropAll: true,
      noNewPrivileges: true,
      volumes: [...secrets, `${data}:${claim}`],
    });
    await eventually('the chart readiness probe', async () => (await probe(name, c.readinessProbe)) === 0, 120, () => logsOf(name));
    expect(await probe(name, c.livenessProbe)).toBe(0);
    expect(await logsOf(name, 200)).toContain('PostgreSQL init process complete');
    expect(await processUids(name)).toSatisfy((uids: number[]) => uids.length > 0 && uids.every((u) => u === uid));
    expect((await exec(name, ['stat', '-c', '%a', c.env.find((e: any) => e.name === 'PGDATA').value])).stdout.trim()).toBe('700');
    const client = await d(['run', '--rm', '--network', net, '--env', `PGPASSWORD=${password}`, POSTGRES, 'psql', '-h', 'chartpg', '-U', 'expense', '-d', 'expenses', '-tAc', 'select current_user'], { reject: false });
    expect(client.stdout.trim(), String(client.all)).toBe('expense');
  });

  it('redis reads requirepass from the mounted file as UID 10003 (in no argument, no environment); both probes pass', async () => {
    const { pod, c } = chartPod('Deployment', 'redis');
    const uid = pod.securityContext.runAsUser;
    expect(uid).toBe(10003);
    expect(c.image).toBe(REDIS);
    const password = String.raw`redis "s3cr3t" \x9`;
    const name = `etk-chartredis-${engine.run}`;
    // `command` replaces the image's entrypoint, as in Kubernetes.
    await runContainer(engine, {
      name,
      image: c.image,
      network: net,
      aliases: ['chartredis'],
      entrypoint: c.command[0],
      command: [...c.command.slice(1), ...c.args],
      user: `${uid}:${pod.securityContext.runAsGroup}`,
      readOnly: true,
      tmpfs: emptyDirs(pod, c),
      capDropAll: true,
      noNewPrivileges: true,
      volumes: secretDir(pod, c, { password }),
    });
    await eventually('the chart readiness probe', async () => (await probe(name, c.readinessProbe)) === 0, 30, () => logsOf(name));
    expect(await probe(name, c.livenessProbe)).toBe(0);
    expect(await processUids(name)).toEqual([uid]);
    const cli = (...args: string[]) => d(['run', '--rm', '--network', net, REDIS, 'redis-cli', '-h', 'chartredis', ...args], { reject: false });
    expect((await cli('ping')).stdout).toMatch(/NOAUTH/);
    expect((await cli('-a', password, '--no-auth-warning', 'ping')).stdout.trim()).toBe('PONG');
    const visible = await exec(name, ['sh', '-c', 'cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n"']);
    expect(visible.stdout).toContain('redis-server');
    expect(visible.stdout).not.toContain('s3cr3t');
  });
  it('haproxy runs the chart configuration as UID 10004: ready on the monitor-uri, alive on the stats listener', async () => {
    const objects = synthesizeEnvironment(loadEnvironment('local'));
    const { pod, c } = chartPod('Deployment', 'haproxy');
    const uid = pod.securityContext.runAsUser;
    expect(uid).toBe(10004);
    expect(c.image).toBe(HAPROXY);
    const config: any = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'haproxy-config');
    const cfgDir = join(engine.scratch, 'chart-haproxy');
    mkdirSync(cfgDir, { recursive: true });
    for (const [file, text] of Object.entries(config.data as Record<string, string>)) writeFileSync(join(cfgDir, file), text);
    const configMount = c.volumeMounts.find((m: any) => m.name === 'config').mountPath;
    const ready = await freePort();
    const alive = await freePort();
    const name = `etk-charthap-${engine.run}`;
    // `args` go to the image's entrypoint, as in Kubernetes; web backends stay unresolved (init-addr none).
    await runContainer(engine, {
      name,
      image: c.image,
      network: net,
      publish: [[ready, c.readinessProbe.httpGet.port], [alive, c.livenessProbe.httpGet.port]],
      user: `${uid}:${pod.securityContext.runAsGroup}`,
      readOnly: true,
      tmpfs: emptyDirs(pod, c),
      capDropAll: true,
      noNewPrivileges: true,
      volumes: [`${cfgDir}:${configMount}:ro`],
      command: c.args,
    });
    const status = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.status, () => 0);
    await eventually('the chart readiness probe', async () => (await status(ready, c.readinessProbe.httpGet.path)) === 200, 30, () => logsOf(name));
    expect(await status(alive, c.livenessProbe.httpGet.path)).toBe(200);
    expect(await processUids(name)).toSatisfy((uids: number[]) => uids.length >= 2 && uids.every((u) => u === uid));
  });
});
