import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ARCHITECTURE_DOC, constructTreeMermaid, layerGraph, renderArchitectureDoc } from './architecture.js';

describe('docs/architecture.md', () => {
  it('shows the layers and the construct tree as the code has them (npm run architecture)', () => {
    const doc = readFileSync(ARCHITECTURE_DOC, 'utf8');
    expect(renderArchitectureDoc(doc), 'docs/architecture.md is stale: run npm run architecture').toBe(doc);
  });

  it('keeps the layering: model and haproxy import nothing, the app only the model, charts nothing above them, no product code or user command imports test tooling', () => {
    const graph = layerGraph();
    const imports = (layer: Parameters<typeof graph.get>[0]) => [...graph.get(layer)!].sort();
    expect(imports('model')).toEqual([]);
    expect(imports('haproxy')).toEqual([]);
    expect(imports('app')).toEqual(['model']);
    expect(imports('charts').filter((l) => !['model', 'haproxy', 'monitoring'].includes(l))).toEqual([]);
    expect(imports('stacks').filter((l) => !['model', 'charts'].includes(l))).toEqual([]);
    expect(imports('tools'), 'tools/ serves the user commands: it builds on the model only').toEqual(['model']);
    for (const layer of ['model', 'haproxy', 'monitoring', 'charts', 'stacks', 'tools', 'scripts', 'app'] as const) expect(imports(layer), layer).not.toContain('testkit');
  });

  it('keeps only user commands in scripts/: every module there is reached from a command of package.json', () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), '..');
    const sources = (dir: string): string[] =>
      readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
      );
    // Entry points: the files package.json's scripts run, and the entries of the prebuilt bundles.
    const commands = Object.values(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts as Record<string, string>).join('\n');
    const bundles = readFileSync(join(root, 'scripts/bundle/bundles.cjs'), 'utf8');
    const entries = [...`${commands}\n${bundles}`.matchAll(/(?:^|[\s'/.])(scripts\/[\w/.-]+\.ts)\b/gm)].map((m) => m[1]);
    expect(entries).toContain('scripts/synth.ts');
    const reached = new Set<string>();
    const visit = (file: string): void => {
      if (reached.has(file) || !file.startsWith('scripts/')) return;
      reached.add(file);
      for (const [, specifier] of readFileSync(join(root, file), 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
        visit(relative(root, join(root, dirname(file), specifier.replace(/\.js$/, '.ts'))));
      }
    };
    for (const entry of entries) visit(entry);
    expect(sources('scripts').filter((f) => !reached.has(f)), 'modules in scripts/ that no command uses (test tooling belongs in testkit/ or test/, tools the commands share in tools/)').toEqual([]);
  });

  it('draws every object of the environment once, under the construct that emits it', () => {
    const tree = constructTreeMermaid('ibm');
    expect(tree).toContain('["PostgresHa"]');
    for (const object of ['StatefulSet/postgres', 'NetworkPolicy/allow-web-to-postgres', 'PersistentVolumeClaim/redis-data', 'PodDisruptionBudget/haproxy']) {
      expect(tree.match(new RegExp(`\\(\\["${object.replace('/', '\\/')}"\\]\\)`, 'g')), object).toHaveLength(1);
    }
  });

  it('refuses a document without the markers', () => {
    expect(() => renderArchitectureDoc('# nothing here')).toThrow(/generated:layers/);
  });
});
