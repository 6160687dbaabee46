/**
 * `npm run compose -- <command> [--env local] [--set key=value ...] [--out dist]`: the generated compose topology on
 * the private Docker engine (tools/src/docker-engine).
 *
 *   render   print dist/<env>/compose/docker-compose.yml as `npm run synth` writes it (with the
 *            same `--set` overrides, e.g. `--set postgres.mode=ha`)
 *   secrets  create the git-ignored env files the compose file reads (.secrets/compose-<env>/)
 *   up       start the engine (it keeps running until `npm run docker-engine -- down`), build
 *            missing images (stand-ins + app image), create secrets, `docker-compose up -d`;
 *            prints the URL HAProxy serves on
 *   down     `docker-compose down` (the data volumes are kept; add `--volumes` to drop them)
 *   ps       `docker-compose ps`
 *
 * The project name is `expense-<env>`; HAPROXY_PORT / HAPROXY_STATS_PORT (default 8080 / 8404)
 * choose the published ports on 127.0.0.1. Exit codes: 0 ok, 1 failure, 2 usage error.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { ConfigError, loadEnvironment } from '@expense-tracker/model/environment';
import { acquireEngine, DOCKER_COMPOSE, dockerEnv, enginePaths } from '@expense-tracker/tools/docker-engine/engine';
import { REPO_ROOT, buildAppImage, ensureBaseImages } from '@expense-tracker/tools/docker-engine/images';
import { COMPOSE_DIR } from '../../charts/docker-compose.js';
import { renderEnvironment } from '../lib/outputs.js';
import { ensureComposeSecrets } from './secrets.js';
import { formatImageReference } from '@expense-tracker/model/images';
import { HAPROXY } from '@expense-tracker/model/components';

const USAGE = 'usage: npm run compose -- <render|secrets|up|down|ps> [--env <name>] [--set <key=value> ...] [--out <dir>] [--volumes]';

/** Environment for docker-compose: the private engine plus the secrets directory. */
function composeEnv(secretsDir: string): Record<string, string> {
  return { ...dockerEnv(enginePaths()), EXPENSE_COMPOSE_SECRETS_DIR: secretsDir };
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { env: { type: 'string', default: 'local' }, set: { type: 'string', multiple: true, default: [] }, out: { type: 'string', default: 'dist' }, volumes: { type: 'boolean', default: false } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    console.error(`compose: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command, ...extra] = parsed.positionals;
  if (extra.length) {
    console.error(`compose: unexpected argument "${extra[0]}"\n${USAGE}`);
    return 2;
  }
  const env = loadEnvironment(parsed.values.env, { set: parsed.values.set });
  const composeDir = resolve(parsed.values.out, env.name, COMPOSE_DIR);
  const composeFile = join(composeDir, 'docker-compose.yml');
  const secretsDir = join(REPO_ROOT, '.secrets', `compose-${env.name}`);
  const compose = (...args: string[]) =>
    execa(DOCKER_COMPOSE, ['--project-name', `expense-${env.name}`, '--file', composeFile, ...args], { env: { ...process.env, ...composeEnv(secretsDir) }, stdio: 'inherit' });
  const needFile = () => {
    if (!existsSync(composeFile)) throw new Error(`${composeFile} does not exist: run \`npm run synth\` first`);
  };
  switch (command) {
    case 'render': {
      const file = renderEnvironment(env).files.get(`${COMPOSE_DIR}/docker-compose.yml`);
      if (!file) throw new Error(`environment "${env.name}" has no compose topology (compose.enabled is false)`);
      process.stdout.write(file);
      return 0;
    }
    case 'secrets': {
      const r = ensureComposeSecrets(secretsDir);
      console.log(r.created.length ? `created ${r.created.join(', ')} in ${r.dir}` : `${r.dir}: all env files exist (kept)`);
      return 0;
    }
    case 'up': {
      needFile();
      await acquireEngine(enginePaths(), 'cli');
      await ensureBaseImages();
      await buildAppImage(formatImageReference(env.image));
      ensureComposeSecrets(secretsDir);
      await compose('up', '--detach');
      console.log(`expense tracker: http://127.0.0.1:${process.env.HAPROXY_PORT ?? HAPROXY.httpPort}/ (HAProxy stats: http://127.0.0.1:${process.env.HAPROXY_STATS_PORT ?? HAPROXY.statsPort}${HAPROXY.statsUri})`);
      return 0;
    }
    case 'down':
      needFile();
      await compose('down', ...(parsed.values.volumes ? ['--volumes'] : []));
      return 0;
    case 'ps':
      needFile();
      await compose('ps');
      return 0;
    default:
      console.error(command ? `compose: unknown command "${command}"\n${USAGE}` : USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : `compose: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
