/**
 * The real `app/Dockerfile` builds with no registry (only the stand-in base images), and the image
 * runs the way the chart runs it: numeric non-root UID, read-only root with only /tmp writable, no
 * capabilities, no-new-privileges, configured by the synthesized `expense-config` ConfigMap plus
 * Secrets, against Postgres and Redis containers. A local `registry:2` (the seeds' local registry)
 * accepts a push of the image and serves it back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_MIGRATE_COMMAND, APP_PORT, APP_SERVER_COMMAND, APP_UID, APP_GID, APP_WORKDIR, READY_PATH } from '@expense-tracker/model/app-contract';
import { formatImageReference, POSTGRES_IMAGE_UID, REDIS_IMAGE_UID } from '@expense-tracker/model/images';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { BASE_IMAGES, REPO_ROOT, buildAppImage, dockerfileParents, type AppImageBuild } from '@expense-tracker/tools/docker-engine/images';
import { freePort } from '@expense-tracker/tools/process/ports';
import { createNetwork, createVolume, d, eventually, exec, logsOf, runContainer, setupEngine, teardownEngine, writeEnvFile, type TestEngine } from './support/docker.js';
import { registerAddExpenseDashboard } from './support/http.js';
import { synthesizedConfigMap } from './support/manifests.js';

const local = loadEnvironment('local');
/** Exactly the reference the local chart deploys. */
const APP_IMAGE = formatImageReference(local.image);

let engine: TestEngine;
let build: AppImageBuild;
let net: string;

beforeAll(async () => {
  engine = await setupEngine();
  build = await buildAppImage(APP_IMAGE);
  net = await createNetwork(engine, 'app');
});
afterAll(async () => {
  await teardownEngine(engine);
});

describe('app image', () => {
  it('builds from app/Dockerfile unchanged, FROM stand-in tags only (no pull)', () => {
    const parents = dockerfileParents(readFileSync(join(REPO_ROOT, 'app', 'Dockerfile'), 'utf8'));
    expect(parents.length).toBeGreaterThan(0);
    for (const p of parents) expect(BASE_IMAGES.map((b) => b.tag)).toContain(p);
    console.log(`app image ${APP_IMAGE}: ${(build.sizeBytes / 2 ** 20).toFixed(1)} MiB, docker build ${build.seconds.toFixed(1)} s (warm BuildKit cache when unchanged)`);
    expect(build.sizeBytes).toBeGreaterThan(0);
  });

  it('declares the contract the chart relies on: USER, WORKDIR, port, command', async () => {
    const cfg = JSON.parse((await d(['image', 'inspect', '--format', '{{json .Config}}', APP_IMAGE])).stdout) as {
      User: string;
      WorkingDir: string;
      ExposedPorts: Record<string, unknown>;
      Cmd: string[];
      Entrypoint: string[] | null;
    };
    expect(cfg.User).toBe(`${APP_UID}:${APP_GID}`);
    expect(cfg.WorkingDir).toBe(APP_WORKDIR);
    expect(Object.keys(cfg.ExposedPorts)).toEqual([`${APP_PORT}/tcp`]);
    expect(cfg.Cmd).toEqual([...APP_SERVER_COMMAND]);
  });
});

describe('app container against Postgres and Redis containers', () => {
  const names = (s: string) => `etk-${s}-${engine.run}`;
  let port: number;

  beforeAll(async () => {
    const secrets = {
      PGPASSWORD: randomBytes(18).toString('base64url'),
      REDIS_PASSWORD: randomBytes(18).toString('base64url'),
      SESSION_SECRET: randomBytes(32).toString('base64url'),
      SENDGRID_API_KEY: `SG.${randomBytes(12).toString('base64url')}`,
    };
    // The ConfigMap names the Services `postgres` and `redis`: the containers get those DNS names.
    const config = await synthesizedConfigMap('local', join(engine.scratch, 'dist'));
    expect(config.PGHOST).toBe('postgres');
    const envFile = writeEnvFile(engine, 'app.env', { ...config, ...secrets });
    const pgEnv = writeEnvFile(engine, 'postgres.env', { POSTGRES_USER: config.PGUSER!, POSTGRES_PASSWORD: secrets.PGPASSWORD, POSTGRES_DB: config.PGDATABASE! });

    await Promise.all([
      runContainer(engine, {
        name: names('postgres'),
        image: formatImageReference(local.postgres.image),
        network: net,
        aliases: ['postgres'],
        envFile: pgEnv,
        env: { PGDATA: '/var/lib/postgresql/data/pgdata' },
        user: `${POSTGRES_IMAGE_UID}:${POSTGRES_IMAGE_UID}`,
        volumes: [`${await createVolume(engine, 'apppg')}:/var/lib/postgresql/data`],
      }),
      runContainer(engine, {
        name: names('redis'),
        image: formatImageReference(local.redis.image),
        network: net,
        aliases: ['redis'],
        env: { REDIS_PASSWORD: secrets.REDIS_PASSWORD },
        // A password-protected Redis on the image's own UID (the chart's own container spec,
        // password file and high UID, runs in base-images.test.ts).
        user: `${REDIS_IMAGE_UID}:${REDIS_IMAGE_UID}`,
        entrypoint: 'sh',
        command: ['-c', 'exec redis-server --port 6379 --dir /data --requirepass "$REDIS_PASSWORD" --appendonly no --save ""'],
      }),
    ]);
    await eventually('postgres ready', async () => (await exec(names('postgres'), ['pg_isready', '-h', '127.0.0.1', '-U', config.PGUSER!])).exitCode === 0, 90, () => logsOf(names('postgres')));

    const hardened = { network: net, envFile, readOnly: true, tmpfs: ['/tmp'], capDropAll: true, noNewPrivileges: true } as const;
    // The chart's migration initContainer, with the same image, env and restrictions.
    const migrate = await runContainer(engine, { ...hardened, name: names('migrate'), image: APP_IMAGE, foreground: true, command: [...APP_MIGRATE_COMMAND] });
    expect(migrate.exitCode, migrate.all).toBe(0);

    port = await freePort();
    await runContainer(engine, { ...hardened, name: names('web'), image: APP_IMAGE, publish: [[port, APP_PORT]] });
  });

  it(`turns ${READY_PATH} 200 and runs as UID ${APP_UID} on a read-only root`, async () => {
    await eventually(`${READY_PATH} 200`, async () => (await fetch(`http://127.0.0.1:${port}${READY_PATH}`, { signal: AbortSignal.timeout(5000) })).status === 200, 60, () => logsOf(names('web')));
    const top = await d(['top', names('web'), '-eo', 'pid,uid,comm']);
    const uids = top.stdout.split('\n').slice(1).filter((l) => l.includes('node')).map((l) => Number(l.trim().split(/\s+/)[1]));
    expect(uids).toEqual([APP_UID]);
    const write = await exec(names('web'), ['node', '-e', "require('fs').writeFileSync('/app/probe', 'x')"]);
    expect(write.exitCode).not.toBe(0);
    expect(write.all).toMatch(/EROFS|read-only/i);
    const tmp = await exec(names('web'), ['node', '-e', "require('fs').writeFileSync('/tmp/probe', 'x')"]);
    expect(tmp.exitCode).toBe(0);
  });

  it('serves register → add expense → dashboard over HTTP', async () => {
    const { html } = await registerAddExpenseDashboard(`http://127.0.0.1:${port}`, `container-${engine.run}@example.com`, {
      amount: '42.17',
      category: 'Groceries',
      description: 'containers tier',
      date: '2026-03-14',
    });
    expect(html).toMatch(/data-testid="month-total">\$42\.17</);
    expect(html).toContain('containers tier');
    expect(html).toContain('Groceries');
  });
});

describe('local registry (registry:2 on 127.0.0.1)', () => {
  it('accepts a push of the app image and serves it back to a fresh pull', async () => {
    const port = await freePort();
    const name = `etk-registry-${engine.run}`;
    await runContainer(engine, { name, image: 'registry:2', network: net, publish: [[port, 5000]], volumes: [`${await createVolume(engine, 'reg')}:/var/lib/registry`] });
    const base = `http://127.0.0.1:${port}`;
    await eventually('registry /v2/', async () => (await fetch(`${base}/v2/`)).status === 200, 30, () => logsOf(name));

    const ref = `127.0.0.1:${port}/expense-tracker:${local.image.tag}`;
    await d(['tag', APP_IMAGE, ref]);
    const push = await d(['push', ref], { reject: false });
    expect(push.exitCode, push.all).toBe(0);

    const catalog = (await (await fetch(`${base}/v2/_catalog`)).json()) as { repositories: string[] };
    expect(catalog.repositories).toContain('expense-tracker');
    const manifestRes = await fetch(`${base}/v2/expense-tracker/manifests/${local.image.tag}`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    expect(manifestRes.status).toBe(200);
    const manifest = (await manifestRes.json()) as { config: { digest: string }; layers: { digest: string; size: number }[] };
    // Every blob the registry serves hashes to its digest.
    for (const blob of [manifest.config, ...manifest.layers]) {
      const bytes = Buffer.from(await (await fetch(`${base}/v2/expense-tracker/blobs/${blob.digest}`)).arrayBuffer());
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(blob.digest);
    }
    expect(manifest.config.digest).toBe(build.id);

    await d(['image', 'rm', ref]);
    expect((await d(['image', 'inspect', ref], { reject: false })).exitCode).not.toBe(0);
    const pull = await d(['pull', ref], { reject: false });
    expect(pull.exitCode, pull.all).toBe(0);
    expect((await d(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim()).toBe(build.id);
    await d(['image', 'rm', ref]);
  });
});
