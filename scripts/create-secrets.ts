/**
 * `npm run create-secrets -- --env <name> [--set path=value]... [--apply] [--context <ctx>] [--out <file>]`
 *
 * Generates the Secrets the charts reference (`postgres-credentials`, `redis-credentials`,
 * `expense-app`; with `postgres.mode: ha` also `postgres-patroni` and, with backups,
 * `postgres-backup-s3`) with random values (32 bytes from crypto.randomBytes, base64url) and either
 * prints them as YAML to stdout, writes them to a file created with mode 0600 (refusing to
 * overwrite), or pipes them to `kubectl apply -f -` (`--apply`). Nothing is ever written to
 * the repository or `dist/`. SENDGRID_API_KEY is taken from the environment; without it the
 * key is the placeholder `disabled` and the app logs instead of sending mail. The backup
 * repository's HMAC keys come from BACKUP_S3_ACCESS_KEY and BACKUP_S3_SECRET_KEY (the object
 * store issues them); without them the keys are `unset`, with a warning: the database runs and
 * every backup fails until the Secret is replaced.
 *
 * `--set` takes the same overrides as `npm run synth`, read by the same loader (`loadEnvironment`),
 * so e.g. `--set postgres.mode=ha` gives the Secrets that topology references; a bad path or
 * value is a config error naming the field (exit 1) and nothing is printed or written.
 *
 * Existing Secrets are not replaced by `--apply` (a new Postgres password would not match the
 * initialized database): delete them first to rotate.
 */
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { secretManifest, secretSpecs } from '../charts/secrets.js';
import { type CommandIO, consoleIO } from './lib/command-io.js';
import { POSTGRES_HA } from '@expense-tracker/model/components';
import { ConfigError, ENVIRONMENT_NAMES, type EnvironmentConfig, loadEnvironment } from '@expense-tracker/model/environment';

const USAGE = `usage: npm run create-secrets -- --env <${ENVIRONMENT_NAMES.join('|')}> [--set path=value]... [--apply [--context <ctx>]] [--out <file>]`;

const random = () => randomBytes(32).toString('base64url');

/** Placeholder of an S3 key that was not given: pgBackRest's requests fail until the Secret holds the real key. */
export const UNSET_S3_KEY = 'unset';

/** Values taken from the environment rather than generated. */
export interface ProvidedSecrets {
  /** @default process.env.SENDGRID_API_KEY, else 'disabled' */
  readonly sendgridApiKey?: string;
  /** HMAC access key of the backup repository. @default process.env.BACKUP_S3_ACCESS_KEY, else `UNSET_S3_KEY` */
  readonly backupS3AccessKey?: string;
  /** HMAC secret key of the backup repository. @default process.env.BACKUP_S3_SECRET_KEY, else `UNSET_S3_KEY` */
  readonly backupS3SecretKey?: string;
}

/**
 * Secret manifests with fresh random values for an environment (values in `stringData`), from
 * the same description the Pulumi component uses (`secretSpecs` in charts/secrets.ts).
 */
export function secretManifests(env: EnvironmentConfig, provided: ProvidedSecrets = {}) {
  const values = {
    postgresPassword: random(),
    redisPassword: random(),
    sessionSecret: random(),
    sendgridApiKey: provided.sendgridApiKey ?? process.env.SENDGRID_API_KEY ?? 'disabled',
    patroniSuperuserPassword: random(),
    patroniReplicationPassword: random(),
    backupS3AccessKey: provided.backupS3AccessKey ?? process.env.BACKUP_S3_ACCESS_KEY ?? UNSET_S3_KEY,
    backupS3SecretKey: provided.backupS3SecretKey ?? process.env.BACKUP_S3_SECRET_KEY ?? UNSET_S3_KEY,
  };
  return secretSpecs(env).map((spec) => secretManifest(spec, values));
}

/**
 * Runs `create-secrets` with command-line arguments.
 * @returns 0 on success, 1 on a config or kubectl error, 2 on bad flags.
 */
export async function createSecretsCommand(argv: readonly string[], io: CommandIO = consoleIO, stdout: (text: string) => void = (text) => void process.stdout.write(text)): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { env: { type: 'string' }, set: { type: 'string', multiple: true }, apply: { type: 'boolean' }, context: { type: 'string' }, out: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.error(`create-secrets: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!values.env) {
    io.error(`create-secrets: --env is required\n${USAGE}`);
    return 2;
  }
  let env: EnvironmentConfig;
  try {
    env = loadEnvironment(values.env, { set: values.set ?? [] });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.error(`create-secrets: ${error.message}`);
      return 1;
    }
    throw error;
  }
  const manifests = secretManifests(env);
  if (manifests.some((m) => Object.values(m.stringData).includes(UNSET_S3_KEY))) {
    io.error(
      `create-secrets: BACKUP_S3_ACCESS_KEY/BACKUP_S3_SECRET_KEY are not set: Secret ${POSTGRES_HA.backupS3Secret.name} gets "${UNSET_S3_KEY}" and ` +
        'backups fail until it holds the bucket\'s HMAC keys (the database runs meanwhile)',
    );
  }
  const yaml = manifests.map((s) => `---\n${stringify(s)}`).join('');
  if (values.apply) {
    const context = values.context ? ['--context', values.context] : [];
    // create (not apply): never overwrite an existing password.
    const result = await execa('kubectl', [...context, 'create', '-f', '-', '--save-config'], { input: yaml, reject: false });
    stdout(result.stdout ? `${result.stdout}\n` : '');
    if (result.exitCode !== 0) {
      io.error(`create-secrets: kubectl failed: ${result.stderr.replace(/stringData[\s\S]*/g, '')}`);
      return 1;
    }
    return 0;
  }
  if (values.out) {
    const file = await open(values.out, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`create-secrets: cannot create ${values.out}: ${e.code === 'EEXIST' ? 'file exists' : e.message}`);
    });
    await file.writeFile(yaml);
    await file.close();
    io.error(`create-secrets: wrote ${values.out} (mode 0600); apply with kubectl create -f ${values.out}`);
    return 0;
  }
  stdout(yaml);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await createSecretsCommand(process.argv.slice(2));
