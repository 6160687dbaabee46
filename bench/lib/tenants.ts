/**
 * Benchmark worker: synthesizes N tenants (copies of the `local` stack, each in its own
 * namespace `expense-t<NNN>`) in this process and writes one YAML file per object plus a
 * `kustomization.yaml` listing them into `<out>/`. Each tenant is rendered, validated and
 * written before the next one starts, so memory stays flat as N grows. On exit it prints
 * `maxrss <bytes>` on stderr (the process's peak resident set).
 *
 * Run from its bundle (`node scripts/bundle/run.cjs bench-tenants <N> <out>`, what
 * bench/synth.ts does) or from source (`tsx bench/lib/tenants.ts <N> <out>`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { renderEnvironment } from '../../scripts/lib/outputs.js';

function main(argv: readonly string[]): number {
  const [count, out] = [Number(argv[0]), argv[1]];
  if (!Number.isInteger(count) || count < 1 || !out) {
    console.error('usage: bench-tenants <N> <out>');
    return 2;
  }
  mkdirSync(out, { recursive: true });
  const resources: string[] = [];
  for (let i = 1; i <= count; i++) {
    const id = `t${String(i).padStart(3, '0')}`;
    const env = loadEnvironment('local', { imageTag: '1.0.0', set: [`name=${id}`, `namespace=expense-${id}`] });
    for (const [file, content] of renderEnvironment(env).files) {
      if (!file.endsWith('.yaml') || file.includes('/')) continue; // manifests only: what kustomize reads
      writeFileSync(join(out, `${id}-${file}`), content);
      resources.push(`${id}-${file}`);
    }
  }
  const kustomization = ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'resources:', ...resources.map((r) => `  - ${r}`), ''];
  writeFileSync(join(out, 'kustomization.yaml'), kustomization.join('\n'));
  return 0;
}

process.exitCode = main(process.argv.slice(2));
process.on('exit', () => process.stderr.write(`maxrss ${process.resourceUsage().maxRSS * 1024}\n`));
