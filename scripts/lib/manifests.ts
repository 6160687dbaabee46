import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../charts/synthesize.js';

/** Reads every `*.yaml` Kubernetes manifest directly inside `dir`. */
export async function readManifests(dir: string): Promise<KubeObject[]> {
  const objects: KubeObject[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${join(dir, file)}: ${doc.errors[0].message}`);
      const value = doc.toJS();
      if (value && typeof value === 'object' && 'kind' in value) objects.push(value as KubeObject);
    }
  }
  return objects;
}
