import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifests } from '../../scripts/lib/manifests.js';

const root = new URL('../..', import.meta.url).pathname;
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'synth-cli-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const byId = (objects: any[]) =>
  Object.fromEntries(objects.map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));

describe('command-line entry points', () => {
  it('`npm run synth` and `cdk8s synth` (cdk8s.yaml) produce the same objects', async () => {
    const env = { ...process.env, IMAGE_TAG: '2.0.0', CI: 'true' };
    const synth = await execa('npm', ['run', '--silent', 'synth', '--', '--out', join(work, 'npm')], { cwd: root, env, reject: false });
    expect(synth.exitCode, synth.stderr).toBe(0);
    const cdk8s = await execa('npx', ['cdk8s', 'synth', '--output', join(work, 'cdk8s')], { cwd: root, env, reject: false });
    expect(cdk8s.exitCode, cdk8s.stderr).toBe(0);
    for (const name of ['local', 'ibm']) {
      const ours = await readManifests(join(work, 'npm', name));
      const theirs = parseAllDocuments(await readFile(join(work, 'cdk8s', `expense-tracker-${name}.k8s.yaml`), 'utf8')).map((d) => d.toJS());
      expect(Object.keys(byId(theirs)).sort()).toEqual(Object.keys(byId(ours)).sort());
      expect(byId(theirs)).toEqual(byId(ours));
    }
  });

  it('exits non-zero with the field named when a flag value is invalid', async () => {
    const result = await execa('npm', ['run', '--silent', 'synth', '--', '--out', join(work, 'bad'), '--set', 'web.replicas=0'], {
      cwd: root,
      reject: false,
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('web.replicas: must be at least 1');
  });
});
