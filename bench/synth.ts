/**
 * `npm run bench:synth`: what does synthesis cost, measured against `kubectl kustomize`
 * (a Go binary that only reads, merges and prints YAML) over the very same files?
 *
 * 1. `npm run synth` equivalent for every environment in a fresh Node process (tsx), vs
 *    `kubectl kustomize` of each environment's output through a kustomization listing the files.
 * 2. The same for N = 1, 10, 100 tenants (copies of the `local` stack in separate namespaces),
 *    synthesized and validated in one fresh process, to show how cost grows with N.
 *
 * Each figure is the median of `--runs` runs (default 3). Times in milliseconds; the ratio is
 * synth time / kustomize time (both include process start-up).
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { stringify } from 'yaml';

const root = new URL('..', import.meta.url).pathname;
const tsx = join(root, 'node_modules/.bin/tsx');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, tenants: { type: 'string', default: '1,10,100' } } });
const runs = Number(values.runs);
const tenantCounts = values.tenants.split(',').map(Number);
if (!Number.isInteger(runs) || runs < 1 || tenantCounts.some((n) => !Number.isInteger(n) || n < 1)) {
  console.error('usage: npm run bench:synth -- [--runs <n>] [--tenants 1,10,100]');
  process.exit(2);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}
async function median(fn: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await timed(fn));
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}
async function kustomize(dir: string): Promise<void> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
  await writeFile(join(dir, 'kustomization.yaml'), stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: files }));
}

const work = await mkdtemp(join(tmpdir(), 'bench-synth-'));
const rows: Array<[string, number, number]> = [];
try {
  const out = join(work, 'envs');
  const synthMs = await median(() => execa(tsx, [join(root, 'scripts/synth.ts'), '--out', out], { cwd: root, env: { IMAGE_TAG: '1.0.0' } }));
  const envs = (await readdir(out)).sort();
  for (const env of envs) await kustomize(join(out, env));
  const kustomizeMs = await median(async () => {
    for (const env of envs) await execa('kubectl', ['kustomize', join(out, env)]);
  });
  rows.push([`all environments (${envs.join(', ')})`, synthMs, kustomizeMs]);

  for (const n of tenantCounts) {
    const dir = join(work, `tenants-${n}`);
    const ms = await median(async () => {
      await rm(dir, { recursive: true, force: true });
      await execa(tsx, [join(root, 'bench/lib/tenants.ts'), String(n), dir], { cwd: root });
    });
    const k = await median(() => execa('kubectl', ['kustomize', dir]));
    rows.push([`${n} tenant(s)`, ms, k]);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

console.log(`\nsynth vs kubectl kustomize (median of ${runs} runs, fresh process each)\n`);
console.log('case'.padEnd(32) + 'synth ms'.padStart(10) + 'kustomize ms'.padStart(14) + 'ratio'.padStart(8));
for (const [label, s, k] of rows) {
  console.log(label.padEnd(32) + s.toFixed(0).padStart(10) + k.toFixed(0).padStart(14) + (s / k).toFixed(2).padStart(8));
}
const tenantRows = rows.slice(1);
if (tenantRows.length > 1) {
  const [first, last] = [tenantRows[0], tenantRows[tenantRows.length - 1]];
  const n0 = tenantCounts[0];
  const n1 = tenantCounts[tenantCounts.length - 1];
  console.log(
    `\ngrowth from ${n0} to ${n1} tenants: synth ×${(last[1] / first[1]).toFixed(1)}, kustomize ×${(last[2] / first[2]).toFixed(1)}; ` +
      `marginal synth cost ≈ ${((last[1] - first[1]) / (n1 - n0)).toFixed(1)} ms per tenant`,
  );
}
