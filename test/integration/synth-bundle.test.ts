/**
 * The fast path (`npm run synth` and the cdk8s app run from prebuilt bundles, scripts/bundle)
 * against the TypeScript sources run by tsx: byte-identical output, and a bundle whose sources
 * changed is rebuilt before it runs, never run stale.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { synthesizeEnvironment, type KubeObject } from '../../charts/synthesize.js';
import bundles from '../../scripts/bundle/bundles.cjs';
import { readManifests } from '../../scripts/lib/manifests.js';

const root = new URL('../..', import.meta.url).pathname;
const tsx = join(root, 'node_modules/.bin/tsx');
const runCjs = join(root, 'scripts/bundle/run.cjs');
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'synth-bundle-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The test process's environment without IMAGE_TAG, plus `vars`. */
function envWith(vars: Record<string, string>): Record<string, string | undefined> {
  const { IMAGE_TAG: _ignored, ...rest } = process.env;
  return { ...rest, ...vars };
}

const byId = (objects: KubeObject[]) => new Map(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o]));

/** Every file under `dir` (recursively), relative path → content. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out[join(entry.parentPath, entry.name).slice(dir.length + 1)] = readFileSync(join(entry.parentPath, entry.name), 'utf8');
  }
  return out;
}

describe('fast synth path (bundles) vs TypeScript sources', () => {
  it.each([
    ['every environment, default image tag (app/package.json, read through import.meta.url)', [], {}],
    ['IMAGE_TAG and --set overrides', ['--env', 'ibm', '--set', 'web.replicas=4'], { IMAGE_TAG: '2.3.4' }],
  ])('`npm run synth` writes a byte-identical dist/: %s', async (_label, args, env) => {
    const fast = join(work, `fast-${args.length}`);
    const source = join(work, `source-${args.length}`);
    const options = { cwd: root, env: envWith(env), extendEnv: false };
    const a = await execa('npm', ['run', '--silent', 'synth', '--', '--out', fast, ...args], options);
    const b = await execa(tsx, ['scripts/synth.ts', '--out', source, ...args], options);
    expect(a.stdout.replaceAll(fast, '<out>')).toBe(b.stdout.replaceAll(source, '<out>'));
    const files = snapshot(fast);
    expect(Object.keys(files).length).toBeGreaterThan(40 * (args.length === 0 ? 1 : 0.5));
    expect(files).toEqual(snapshot(source));
  });

  it('exits 1 with the same message as the sources on a bad value, writing nothing', async () => {
    const out = join(work, 'bad');
    const args = ['--out', out, '--set', 'web.replicas=0'];
    const options = { cwd: root, reject: false, env: envWith({ IMAGE_TAG: '1.0.0' }), extendEnv: false };
    const a = await execa('node', [runCjs, 'synth', ...args], options);
    const b = await execa(tsx, ['scripts/synth.ts', ...args], options);
    expect([a.exitCode, b.exitCode]).toEqual([1, 1]);
    expect(a.stderr).toBe(b.stderr);
    expect(a.stderr).toContain('web.replicas: must be at least 1');
    expect(() => readdirSync(out)).toThrow();
  });

  it('`cdk8s synth` app: the bundle writes the same files as charts/main.ts', async () => {
    const fast = join(work, 'cdk8s-fast');
    const source = join(work, 'cdk8s-source');
    const env = { IMAGE_TAG: '1.0.0' };
    await execa('node', [runCjs, 'cdk8s-app'], { cwd: root, env: { ...env, CDK8S_OUTDIR: fast } });
    await execa(tsx, ['charts/main.ts'], { cwd: root, env: { ...env, CDK8S_OUTDIR: source } });
    expect(Object.keys(snapshot(fast)).sort()).toEqual(['expense-tracker-ibm.k8s.yaml', 'expense-tracker-local.k8s.yaml']);
    expect(snapshot(fast)).toEqual(snapshot(source));
  });

  it('the written YAML parses back to exactly the objects validated in memory (what synth no longer re-reads)', async () => {
    const out = join(work, 'roundtrip');
    await execa('node', [runCjs, 'synth', '--out', out], { cwd: root, env: { IMAGE_TAG: '1.0.0' } });
    for (const name of ['local', 'ibm']) {
      // Keyed by object: files are read in file-name order, which differs from apply order.
      const written = byId(await readManifests(join(out, name)));
      expect(written).toEqual(byId(synthesizeEnvironment(loadEnvironment(name, { imageTag: '1.0.0' }))));
    }
    const validate = await execa('npm', ['run', '--silent', 'validate', '--', join(out, 'local'), join(out, 'ibm')], { cwd: root, reject: false });
    expect(validate.exitCode, validate.stderr).toBe(0);
  });

  it('a bundle whose source changed is rebuilt before it runs', async () => {
    // Pretend charts/web.ts changed since the build: its recorded hash and size no longer match.
    const manifest = bundles.readManifest('synth');
    expect(manifest, 'npm ci (prepare) or an earlier run builds it').toBeDefined();
    const input = manifest!.inputs.find(([file]) => file === 'charts/web.ts');
    expect(input).toBeDefined();
    input![2] += 1;
    writeFileSync(bundles.manifestPath('synth'), JSON.stringify(manifest));
    const out = join(work, 'rebuilt');
    const result = await execa('node', [runCjs, 'synth', '--out', out], { cwd: root, env: { IMAGE_TAG: '1.0.0' } });
    expect(result.stderr).toMatch(/^bundle: synth: charts\/web\.ts changed; rebuilt in [0-9.]+ s$/m);
    expect(bundles.staleReason('synth', bundles.readManifest('synth'))).toBeUndefined();
    const again = await execa('node', [runCjs, 'synth', '--out', out], { cwd: root, env: { IMAGE_TAG: '1.0.0' } });
    expect(again.stderr).toBe('');
  });
});
