/**
 * The model is the ground floor: it imports packages and its own modules, never another folder
 * of the repository, so every layer can import it without a cycle (docs/architecture.md).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODEL = fileURLToPath(new URL('.', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'node_modules' ? [] : sources(join(dir, e.name))) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('model', () => {
  it('imports nothing from the rest of the repository', () => {
    for (const file of sources(MODEL)) {
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        if (!specifier.startsWith('.')) {
          expect(specifier, relative(MODEL, file)).toMatch(/^(node:|zod$|vitest$)/);
          continue;
        }
        expect(relative(MODEL, resolve(file, '..', specifier)), `${relative(MODEL, file)} imports ${specifier}`).not.toMatch(/^\.\./);
      }
    }
  });

  it('exports every public module through package.json', () => {
    const pkg = JSON.parse(readFileSync(join(MODEL, 'package.json'), 'utf8')) as { exports: Record<string, string> };
    const modules = readdirSync(MODEL).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    // environments/base.ts too: construct props default to the base values.
    const expected = [...modules.map((f) => `./${f.replace(/\.ts$/, '.js')}`), './environments/base.js'];
    expect(Object.values(pkg.exports).sort()).toEqual(expected.sort());
  });
});
