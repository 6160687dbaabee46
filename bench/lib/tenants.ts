/**
 * Benchmark worker: synthesizes N tenants (copies of the `local` stack, each in its own
 * namespace `expense-t<NNN>`) in this process and writes one YAML file per object plus a
 * `kustomization.yaml` listing them into `<out>/`. Usage: tsx bench/lib/tenants.ts <N> <out>
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { manifestFileName, synthesizeEnvironment, toYaml } from '../../charts/synthesize.js';
import { validateManifests } from '../../charts/validate.js';

const [count, out] = [Number(process.argv[2]), process.argv[3]];
if (!Number.isInteger(count) || count < 1 || !out) {
  console.error('usage: tsx bench/lib/tenants.ts <N> <out>');
  process.exit(2);
}
await mkdir(out, { recursive: true });
const resources: string[] = [];
for (let i = 1; i <= count; i++) {
  const id = `t${String(i).padStart(3, '0')}`;
  const env = loadEnvironment('local', { imageTag: '1.0.0', set: [`name=${id}`, `namespace=expense-${id}`] });
  const objects = synthesizeEnvironment(env);
  const findings = validateManifests(objects);
  if (findings.length > 0) throw new Error(`tenant ${id}: ${findings.length} validation findings`);
  for (const obj of objects) {
    const file = `${id}-${manifestFileName(obj)}`;
    await writeFile(join(out, file), toYaml(obj));
    resources.push(file);
  }
}
await writeFile(join(out, 'kustomization.yaml'), stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources }));
