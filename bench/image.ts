/**
 * `npm run bench:image [-- --skip-cold]`: container image and compose figures on the private
 * Docker engine (tools/src/docker-engine).
 *
 * 1. Cold build of app/Dockerfile (`--no-cache`: every step runs, npm ci downloads, argon2 compiles).
 * 2. Warm build right after with unchanged inputs (BuildKit cache hit on every step).
 * 3. Image size (`docker image inspect .Size`, bytes) and the size of its base image.
 * 4. `docker-compose up -d` of the generated topology until the app answers /readyz through
 *    HAProxy, then `docker-compose down --volumes`.
 * Every figure comes from this run; ratios compare warm with cold and image with base image.
 * Stand-in base images are built first if missing (reported, not timed as part of the figures).
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { acquireEngine, DOCKER_COMPOSE, dockerEnv, releaseEngine } from '@expense-tracker/tools/docker-engine/engine';
import { buildAppImage, dockerfileParents, ensureBaseImages, inspectImage, REPO_ROOT } from '@expense-tracker/tools/docker-engine/images';
import { COMPOSE_DIR } from '../charts/docker-compose.js';
import { renderEnvironment } from '../scripts/lib/outputs.js';
import { ensureComposeSecrets } from '../scripts/docker-compose/secrets.js';
import { freePort } from '@expense-tracker/tools/process/ports';
import { formatImageReference } from '@expense-tracker/model/images';

const MiB = 2 ** 20;
const { values } = parseArgs({ options: { 'skip-cold': { type: 'boolean', default: false } } });

const env = loadEnvironment('local');
const tag = formatImageReference(env.image);
const lease = await acquireEngine();
const scratch = mkdtempSync(join(tmpdir(), 'bench-image-'));
try {
  const bases = await ensureBaseImages();
  const rebuilt = bases.filter((b) => !b.cached);
  if (rebuilt.length) console.log(`(built stand-in base images first: ${rebuilt.map((b) => `${b.tag} ${b.seconds.toFixed(1)} s`).join(', ')})`);

  const cold = values['skip-cold'] ? undefined : await buildAppImage(tag, ['--no-cache']);
  const warm = await buildAppImage(tag);
  const runtimeBase = dockerfileParents(readFileSync(join(REPO_ROOT, 'app', 'Dockerfile'), 'utf8')).at(-1)!;
  const base = (await inspectImage(runtimeBase))!;

  // Compose: the generated files, fresh secrets, free ports, a project of our own.
  const dist = join(scratch, 'dist', env.name);
  for (const [name, content] of [...renderEnvironment(env).files].filter(([file]) => file.startsWith(`${COMPOSE_DIR}/`))) {
    mkdirSync(dirname(join(dist, name)), { recursive: true });
    writeFileSync(join(dist, name), content);
  }
  const secrets = join(scratch, 'secrets');
  ensureComposeSecrets(secrets);
  const port = await freePort();
  const project = `etkbench${process.pid}`;
  const composeEnv = {
    ...process.env,
    ...dockerEnv(lease.paths),
    EXPENSE_COMPOSE_SECRETS_DIR: secrets,
    HAPROXY_PORT: String(port),
    HAPROXY_STATS_PORT: String(await freePort()),
    COMPOSE_BRIDGE_NAME: `etkd-b${process.pid.toString(36)}`,
  };
  const compose = (args: string[]) => execa(DOCKER_COMPOSE, ['--project-name', project, '--file', join(dist, COMPOSE_DIR, 'docker-compose.yml'), ...args], { env: composeEnv, all: true });
  let upSeconds: number;
  let readySeconds: number;
  try {
    const began = Date.now();
    await compose(['up', '--detach']);
    upSeconds = (Date.now() - began) / 1000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3000) }).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (Date.now() - began > 120_000) throw new Error('compose topology not ready through HAProxy within 120 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    readySeconds = (Date.now() - began) / 1000;
  } finally {
    await compose(['down', '--volumes', '--timeout', '10']).catch((e: unknown) => console.error(`compose down failed: ${String(e)}`));
  }

  console.log('\napp image (app/Dockerfile, BuildKit, --network host)');
  if (cold) console.log(`  cold build (--no-cache)        ${cold.seconds.toFixed(1).padStart(7)} s`);
  console.log(`  warm build (cache hit)         ${warm.seconds.toFixed(1).padStart(7)} s${cold ? `   warm/cold = ${(warm.seconds / cold.seconds).toFixed(3)}` : ''}`);
  console.log(`  image size                     ${(warm.sizeBytes / MiB).toFixed(1).padStart(7)} MiB (${warm.sizeBytes} bytes)`);
  console.log(`  base ${runtimeBase.padEnd(26)}${(base.size / MiB).toFixed(1).padStart(7)} MiB   image/base = ${(warm.sizeBytes / base.size).toFixed(3)} (app layers ${((warm.sizeBytes - base.size) / MiB).toFixed(1)} MiB)`);
  console.log(`docker-compose (web x ${env.web.replicas} + HAProxy + PostgreSQL + Redis, empty volume)`);
  console.log(`  up -d returned after           ${upSeconds.toFixed(1).padStart(7)} s (waits for healthy dependencies)`);
  console.log(`  ready through HAProxy after    ${readySeconds.toFixed(1).padStart(7)} s`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
  await releaseEngine(lease);
}
