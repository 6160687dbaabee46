import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ARCHITECTURE_DOC, constructTreeMermaid, layerGraph, renderArchitectureDoc } from './architecture.js';

describe('docs/architecture.md', () => {
  it('shows the layers and the construct tree as the code has them (npm run architecture)', () => {
    const doc = readFileSync(ARCHITECTURE_DOC, 'utf8');
    expect(renderArchitectureDoc(doc), 'docs/architecture.md is stale: run npm run architecture').toBe(doc);
  });

  it('keeps the layering: model and haproxy import nothing, the app only the model, charts nothing above them', () => {
    const graph = layerGraph();
    const imports = (layer: Parameters<typeof graph.get>[0]) => [...graph.get(layer)!].sort();
    expect(imports('model')).toEqual([]);
    expect(imports('haproxy')).toEqual([]);
    expect(imports('app')).toEqual(['model']);
    expect(imports('charts').filter((l) => !['model', 'haproxy', 'monitoring'].includes(l))).toEqual([]);
    expect(imports('stacks').filter((l) => !['model', 'charts'].includes(l))).toEqual([]);
    for (const layer of ['model', 'haproxy', 'monitoring', 'charts', 'stacks', 'app'] as const) expect(imports(layer), layer).not.toContain('testkit');
  });

  it('draws every object of the environment once, under the construct that emits it', () => {
    const tree = constructTreeMermaid('ibm');
    expect(tree).toContain('["Postgres"]');
    for (const object of ['StatefulSet/postgres', 'NetworkPolicy/allow-web-to-postgres', 'PersistentVolumeClaim/redis-data', 'PodDisruptionBudget/haproxy']) {
      expect(tree.match(new RegExp(`\\(\\["${object.replace('/', '\\/')}"\\]\\)`, 'g')), object).toHaveLength(1);
    }
  });

  it('refuses a document without the markers', () => {
    expect(() => renderArchitectureDoc('# nothing here')).toThrow(/generated:layers/);
  });
});
