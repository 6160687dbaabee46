/**
 * `npm run bench:synth [-- --runs 7] [--tenant-runs 3] [--tenants 1,10,100]`
 *
 * What synthesis costs against `kubectl kustomize` (a Go binary that only reads, merges and
 * prints YAML) over the very same files, each side a fresh process per run, runs interleaved
 * (ours, baseline, ours, …) so both see the same machine load:
 *
 * 1. `npm run synth` (both environments, exactly the README's command) vs two `kubectl kustomize`
 *    calls, one per environment directory it wrote. Goal: median ≤ 1.5×, and ≤ 0.5 s as a hint.
 *    Every run's output must be byte-identical to the first.
 * 2. `cdk8s synth` (the local CLI with cdk8s.yaml, no npx, `--check-upgrade false`) vs
 *    `npm run synth`. Goal ≤ 1.2×.
 *    Then where the time goes, from runs in the same rounds: the synth bundle run by `node`
 *    directly (so npm's own share is the difference), the cdk8s app run directly (the cdk8s CLI's
 *    share), and `node -e 0` (the process floor).
 * 3. N tenants (copies of the `local` stack in namespaces `expense-t<NNN>`, rendered, validated
 *    and written one after the other by bench/lib/tenants.ts from its bundle) vs
 *    `kubectl kustomize` of the files it wrote. Goal for the largest N: ≤ 0.5×, with peak memory
 *    flat in N (printed: max RSS per N and its growth).
 *
 * Each case prints min / median / max wall time of both sides, median CPU time and peak RSS
 * (GNU time), and the ratio of the medians (wall, which the goals are about, and CPU, which moves
 * less with other jobs' load on a shared machine). Exit 1 when a goal is not met, 2 on bad usage.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { compare, describeSamples, loadAverage, requireGnuTime, summarize, timeCommand, type Comparison, type Sample } from './lib/measure.js';

const root = new URL('..', import.meta.url).pathname;
const USAGE = 'usage: npm run bench:synth -- [--runs <1-50>] [--tenant-runs <1-20>] [--tenants 1,10,100]';

function intFlag(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

/** Every file under `dir`, relative path → content (to prove runs are byte-identical). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.set(join(entry.parentPath, entry.name).slice(dir.length + 1), readFileSync(join(entry.parentPath, entry.name), 'utf8'));
  }
  return out;
}

function sameSnapshot(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/** Writes a kustomization.yaml listing every `*.yaml` manifest directly inside `dir`. */
function writeKustomization(dir: string): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
  writeFileSync(join(dir, 'kustomization.yaml'), ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'resources:', ...files.map((f) => `  - ${f}`), ''].join('\n'));
}

async function main(): Promise<number> {
  let flags;
  try {
    const { values } = parseArgs({
      options: { runs: { type: 'string', default: '7' }, 'tenant-runs': { type: 'string', default: '3' }, tenants: { type: 'string', default: '1,10,100' } },
      strict: true,
      allowPositionals: false,
    });
    flags = {
      runs: intFlag('runs', values.runs!, 1, 50),
      tenantRuns: intFlag('tenant-runs', values['tenant-runs']!, 1, 20),
      tenants: values.tenants!.split(',').map((n) => intFlag('tenants', n, 1, 999)),
    };
    requireGnuTime();
  } catch (error) {
    console.error(`bench:synth: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }

  const work = mkdtempSync(join(tmpdir(), 'bench-synth-'));
  const env = { ...process.env, IMAGE_TAG: '1.0.0', CDK8S_CHECK_UPGRADE: 'false' };
  const opts = { cwd: root, env, extendEnv: false };
  const results: Comparison[] = [];
  try {
    console.log(`bench:synth: ${availableParallelism()} CPUs, load average ${loadAverage()} at start`);
    // Node before 22 reads NODE_EXTRA_CA_CERTS (and builds its root certificate store) while
    // starting, in every process, TLS or not: about 80 ms per node process on this machine, paid
    // by npm and by the synth process but not by kubectl. Said, not hidden: it is the machine's.
    if (process.env.NODE_EXTRA_CA_CERTS && Number(process.versions.node.split('.')[0]) < 22) {
      console.log(`bench:synth: NODE_EXTRA_CA_CERTS is set and node is ${process.version}: every node process loads those certificates at start-up; run with it unset for figures comparable to a machine without it`);
    }
    const out = join(work, 'dist');
    const npmSynth = () => timeCommand('npm', ['run', '--silent', 'synth', '--', '--out', out], opts);
    const cdk8sOut = join(work, 'cdk8s');
    const cdk8sSynth = () => timeCommand(join(root, 'node_modules/.bin/cdk8s'), ['synth', '--check-upgrade', 'false', '--output', cdk8sOut], opts);

    // Untimed first runs: build a bundle or its code cache if missing (a first run after a
    // source change rebuilds, which is not what is measured here), and the kustomize inputs.
    const warm = await execa('npm', ['run', '--silent', 'synth', '--', '--out', out], opts);
    if (warm.stderr) console.log(`bench:synth: ${warm.stderr.trim()}`);
    await execa(join(root, 'node_modules/.bin/cdk8s'), ['synth', '--check-upgrade', 'false', '--output', cdk8sOut], opts);
    const reference = snapshot(out);
    const kustomizeDirs = readdirSync(out).sort().map((name) => {
      const dir = join(work, 'kustomize', name);
      cpSync(join(out, name), dir, { recursive: true });
      writeKustomization(dir);
      return dir;
    });
    const kustomizeAll = () => timeCommand('sh', ['-c', kustomizeDirs.map((d) => `kubectl kustomize '${d}' >/dev/null`).join(' && ')], opts);

    // Where the time goes, measured in the same rounds: the bundle without npm in front of it, the
    // cdk8s app without the cdk8s CLI in front of it, and a bare node process (the floor).
    const bundleOut = join(work, 'dist-bundle');
    const bundleSynth = () => timeCommand('node', [join(root, 'scripts/bundle/run.cjs'), 'synth', '--out', bundleOut], opts);
    const cdk8sApp = () => timeCommand('node', [join(root, 'scripts/bundle/run.cjs'), 'cdk8s-app'], { ...opts, env: { ...env, CDK8S_OUTDIR: join(work, 'cdk8s-app') } });
    const nodeStart = () => timeCommand('node', ['-e', '0'], opts);

    const synthSamples: Sample[] = [];
    const kustomizeSamples: Sample[] = [];
    const cdk8sSamples: Sample[] = [];
    const bundleSamples: Sample[] = [];
    const cdk8sAppSamples: Sample[] = [];
    const nodeSamples: Sample[] = [];
    process.stdout.write(`bench:synth: all environments, ${flags.runs} runs `);
    for (let i = 0; i < flags.runs; i++) {
      synthSamples.push(await npmSynth());
      if (!sameSnapshot(snapshot(out), reference)) throw new Error(`run ${i + 1} of npm run synth wrote different files than the first`);
      kustomizeSamples.push(await kustomizeAll());
      cdk8sSamples.push(await cdk8sSynth());
      bundleSamples.push(await bundleSynth());
      if (!sameSnapshot(snapshot(bundleOut), reference)) throw new Error(`run ${i + 1} of the synth bundle wrote different files than npm run synth`);
      cdk8sAppSamples.push(await cdk8sApp());
      nodeSamples.push(await nodeStart());
      process.stdout.write('.');
    }
    console.log('');
    const names = readdirSync(out).sort().join(', ');
    results.push(compare(`npm run synth (${names}) vs kubectl kustomize of the same files`, { name: 'npm run synth', samples: synthSamples }, { name: `kubectl kustomize ×${kustomizeDirs.length}`, samples: kustomizeSamples }, { atMost: 1.5 }));
    const median = summarize(synthSamples.map((s) => s.wallMs)).median;
    console.log(`  hint: npm run synth median ${(median / 1000).toFixed(2)} s (≤ 0.5 s: ${median <= 500 ? 'met' : 'not met'})`);
    results.push(compare('cdk8s synth (cdk8s.yaml, local CLI, --check-upgrade false) vs npm run synth', { name: 'cdk8s synth', samples: cdk8sSamples }, { name: 'npm run synth', samples: synthSamples }, { atMost: 1.2 }));
    compare('where npm run synth spends its time: the synth bundle run by node directly (no npm) vs kubectl kustomize', { name: 'node run.cjs synth', samples: bundleSamples }, { name: `kubectl kustomize ×${kustomizeDirs.length}`, samples: kustomizeSamples });
    const med = (samples: Sample[], f: (s: Sample) => number) => summarize(samples.map(f)).median;
    const share = (whole: Sample[], part: Sample[]) =>
      `${(med(whole, (s) => s.wallMs) - med(part, (s) => s.wallMs)).toFixed(0)} ms wall, ${(med(whole, (s) => s.cpuMs) - med(part, (s) => s.cpuMs)).toFixed(0)} ms CPU`;
    console.log(`  node -e 0 (process floor): ${describeSamples(nodeSamples)}`);
    console.log(`  npm's own share of npm run synth (difference of medians): ${share(synthSamples, bundleSamples)}`);
    console.log(`  the bundle's work above a bare node process: ${share(bundleSamples, nodeSamples)}`);
    console.log(`  the cdk8s CLI's own share of cdk8s synth (vs its app run directly, ${describeSamples(cdk8sAppSamples)}): ${share(cdk8sSamples, cdk8sAppSamples)}`);

    const rssByTenants: Array<[number, number]> = [];
    for (const n of flags.tenants) {
      const dir = join(work, `tenants-${n}`);
      const tenants = () => timeCommand('node', [join(root, 'scripts/bundle/run.cjs'), 'bench-tenants', String(n), dir], opts);
      await tenants(); // untimed, as above
      const first = snapshot(dir);
      const ours: Sample[] = [];
      const theirs: Sample[] = [];
      process.stdout.write(`bench:synth: ${n} tenant(s), ${flags.tenantRuns} runs `);
      for (let i = 0; i < flags.tenantRuns; i++) {
        rmSync(dir, { recursive: true, force: true });
        ours.push(await tenants());
        if (!sameSnapshot(snapshot(dir), first)) throw new Error(`${n} tenants: run ${i + 1} wrote different files than the first`);
        theirs.push(await timeCommand('kubectl', ['kustomize', dir], opts));
        process.stdout.write('.');
      }
      console.log('');
      const files = readdirSync(dir).length - 1;
      const isLargest = n === Math.max(...flags.tenants);
      results.push(compare(`${n} tenant(s), ${files} files`, { name: 'tenants (bundle)', samples: ours }, { name: 'kubectl kustomize', samples: theirs }, isLargest ? { atMost: 0.5 } : undefined));
      rssByTenants.push([n, summarize(ours.map((s) => s.maxRssBytes)).max]);
    }
    if (rssByTenants.length > 1) {
      const [[n0, r0], [n1, r1]] = [rssByTenants[0], rssByTenants[rssByTenants.length - 1]];
      console.log(`\npeak memory of the tenant worker: ${rssByTenants.map(([n, r]) => `${n}: ${(r / 1024 / 1024).toFixed(0)} MiB`).join(', ')}; ×${(r1 / r0).toFixed(2)} from ${n0} to ${n1} tenants`);
    }
    console.log(`\nbench:synth: load average ${loadAverage()} at the end`);
    return results.some((r) => r.met === false) ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`bench:synth: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
