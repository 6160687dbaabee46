import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSecretsCommand } from './create-secrets.js';
import { memoryIO } from './lib/command-io.js';
import { synthCommand } from './synth.js';
import { validateCommand } from './validate.js';

const COMMANDS = { 'synth.ts': synthCommand, 'validate.ts': validateCommand, 'create-secrets.ts': createSecretsCommand } as const;

/** Runs a script's command in-process with the given environment variables; like execa's result. */
async function run(script: keyof typeof COMMANDS, args: string[], env: Record<string, string> = {}) {
  const vars = { IMAGE_TAG: '1.0.0', ...env };
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  const io = memoryIO();
  let written = '';
  try {
    const exitCode =
      script === 'create-secrets.ts'
        ? await createSecretsCommand(args, io, (text) => (written += text))
        : await COMMANDS[script](args, io);
    return { exitCode, stdout: written || io.stdout(), stderr: io.stderr() };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function snapshotDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      out[path.slice(dir.length + 1)] = await readFile(path, 'utf8');
    }
  }
  return out;
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'synth-test-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('npm run synth', () => {
  it('writes every environment, one file per object, byte-identical on a rerun', async () => {
    const out = join(work, 'det');
    const first = await run('synth.ts', ['--out', out]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toContain('validated 2 environment(s): no findings');
    const a = await snapshotDir(out);
    expect(Object.keys(a).filter((f) => f.startsWith('local/'))).toContain('local/16-deployment-expense-web.yaml');
    expect(Object.keys(a).filter((f) => f.startsWith('ibm/'))).toContain('ibm/18-statefulset-postgres.yaml');
    const second = await run('synth.ts', ['--out', out]);
    expect(second.exitCode).toBe(0);
    expect(await snapshotDir(out)).toEqual(a);
  });

  it('synthesizes one environment with --env and applies --set', async () => {
    const out = join(work, 'one');
    const result = await run('synth.ts', ['--out', out, '--env', 'ibm', '--set', 'web.replicas=4']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(await readdir(out)).toEqual(['ibm']);
    const deployment = (await readFile(join(out, 'ibm/16-deployment-expense-web.yaml'), 'utf8'));
    expect(deployment).toMatch(/^ {2}replicas: 4$/m);
  });

  it.each([
    [['--set', 'web.replicas=0'], {}, /environment "local"[\s\S]*web\.replicas: must be at least 1/],
    [['--set', 'postgres.storage=5gigs'], {}, /postgres\.storage: must be a storage quantity/],
    [['--set', 'ingress.host=not a host'], {}, /ingress\.host: must be a DNS host name/],
    [['--set', 'web.unknownKey=1'], {}, /web\.unknownKey: unknown field/],
    [['--set', 'web.preStopSleepSeconds=40'], {}, /web\.preStopSleepSeconds: must be less than terminationGracePeriodSeconds \(30\)/],
    [['--env', 'ibm'], { IMAGE_TAG: 'latest' }, /environment "ibm"[\s\S]*image\.tag: must not be "latest"/],
    [['--env', 'staging'], {}, /environment "staging"[\s\S]*unknown environment/],
  ])('fails on %j, naming environment and field, and writes nothing', async (args, env, message) => {
    const out = join(work, 'bad');
    await rm(out, { recursive: true, force: true });
    const seed = await run('synth.ts', ['--out', out]);
    expect(seed.exitCode).toBe(0);
    const before = await snapshotDir(out);
    const result = await run('synth.ts', ['--out', out, ...(args as string[])], env as Record<string, string>);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(await snapshotDir(out)).toEqual(before);
  });

  it('rejects unknown flags with usage and exit code 2', async () => {
    const result = await run('synth.ts', ['--out', join(work, 'flags'), '--replicas', '3']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/Unknown option '--replicas'[\s\S]*usage:/);
  });

  it('never writes a secret value to dist/', async () => {
    const out = join(work, 'secrets');
    // Values a user would have in their shell and in the generated Secrets.
    const generated = await run('create-secrets.ts', ['--env', 'local'], { SENDGRID_API_KEY: 'SG.test-key-that-must-not-leak' });
    expect(generated.exitCode, generated.stderr).toBe(0);
    const docs = parseAllDocuments(generated.stdout).map((d) => d.toJS());
    const values = docs.flatMap((d: any) => Object.values(d.stringData as Record<string, string>));
    const secretValues = values.filter((v) => v.length >= 16);
    expect(secretValues.length).toBeGreaterThanOrEqual(4);
    const result = await run('synth.ts', ['--out', out], {
      SENDGRID_API_KEY: 'SG.test-key-that-must-not-leak',
      PGPASSWORD: secretValues[0],
      SESSION_SECRET: secretValues[1],
    });
    expect(result.exitCode, result.stderr).toBe(0);
    const files = await snapshotDir(out);
    for (const [file, content] of Object.entries(files)) {
      for (const value of [...secretValues, 'SG.test-key-that-must-not-leak']) expect(content, file).not.toContain(value);
      for (const doc of parseAllDocuments(content).map((d) => d.toJS())) {
        expect(doc.kind, `${file} must not contain a Secret`).not.toBe('Secret');
        const containers = [...(doc.spec?.template?.spec?.containers ?? []), ...(doc.spec?.template?.spec?.initContainers ?? [])];
        for (const c of containers) {
          for (const e of c.env ?? []) {
            if (!/PASSWORD|SECRET|API_KEY|TOKEN/.test(e.name)) continue;
            // Only the path of a mounted Secret file (`<NAME>_FILE`), never a value or a secretKeyRef.
            expect(e.name, `${file} ${e.name}`).toMatch(/_FILE$/);
            expect(e.value, `${file} ${e.name} inline`).toMatch(/^\/run\/secrets\//);
          }
        }
        if (doc.kind === 'ConfigMap') for (const key of Object.keys(doc.data ?? {})) expect(key).not.toMatch(/PASSWORD|SECRET|API_KEY|TOKEN/);
      }
    }
  });
});

describe('npm run create-secrets', () => {
  const names = (stdout: string) => parseAllDocuments(stdout).map((d) => (d.toJS() as { metadata: { name: string } }).metadata.name);

  it('takes the same --set overrides as synth: the Secrets of the topology they select', async () => {
    const single = await run('create-secrets.ts', ['--env', 'local']);
    expect(single.exitCode, single.stderr).toBe(0);
    expect(names(single.stdout)).toEqual(['postgres-credentials', 'redis-credentials', 'expense-app']);
    const ha = await run('create-secrets.ts', ['--env', 'local', '--set', 'postgres.mode=ha']);
    expect(ha.exitCode, ha.stderr).toBe(0);
    expect(names(ha.stdout)).toEqual(['postgres-credentials', 'redis-credentials', 'expense-app', 'postgres-patroni']);
    const keys = { BACKUP_S3_ACCESS_KEY: 'access', BACKUP_S3_SECRET_KEY: 'secret' };
    expect(names((await run('create-secrets.ts', ['--env', 'ibm'], keys)).stdout)).toContain('postgres-backup-s3');
    const noBackups = await run('create-secrets.ts', ['--env', 'ibm', '--set', 'postgres.backup.enabled=false'], keys);
    expect(noBackups.exitCode, noBackups.stderr).toBe(0);
    expect(names(noBackups.stdout)).toEqual(['postgres-credentials', 'redis-credentials', 'expense-app', 'postgres-patroni']);
  });

  it.each([
    [['--set', 'postgres.mode=triple'], /environment "local"[\s\S]*postgres\.mode/],
    [['--set', 'web.unknownKey=1'], /web\.unknownKey: unknown field/],
    [['--set', 'web.preStopSleepSeconds=40'], /web\.preStopSleepSeconds: must be less than terminationGracePeriodSeconds \(30\)/],
  ])('refuses %j with a config error naming the field and prints no Secret', async (args, message) => {
    const result = await run('create-secrets.ts', ['--env', 'local', ...args]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('refuses a --set without a value as synth does', async () => {
    const result = await run('create-secrets.ts', ['--env', 'local', '--set']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--set[\s\S]*usage:/);
  });
});

describe('npm run validate', () => {
  it('passes on synthesized output and names object and field for a broken file', async () => {
    const out = join(work, 'validate');
    expect((await run('synth.ts', ['--out', out, '--env', 'local'])).exitCode).toBe(0);
    // Schema and policy only: the scanners' own tier is test/integration/scanners.test.ts.
    const ok = await run('validate.ts', ['--no-scanners', join(out, 'local')]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const file = join(out, 'local/16-deployment-expense-web.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('localhost:5000/expense-tracker:1.0.0', 'localhost:5000/expense-tracker:latest'));
    const bad = await run('validate.ts', ['--no-scanners', join(out, 'local')]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('Deployment/expense-web: spec.template.spec.containers[0].image: "localhost:5000/expense-tracker:latest" uses the latest tag');
  });
});
