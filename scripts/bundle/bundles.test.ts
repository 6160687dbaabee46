import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBundle } from './build.mjs';
import bundles from './bundles.cjs';

const { outDirOf, readManifest, staleReason } = bundles;

/** A throwaway project: `greet.ts` imported by the entry, `import.meta.url` read at run time. */
let root: string;
const ENTRY = "import { greet } from './greet.ts';\nconsole.log(greet());\n";
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bundle-test-'));
  writeFileSync(join(root, 'greet.ts'), "export const greet = (): string => `hello from ${new URL(import.meta.url).pathname.split('/').pop()}`;\n");
  writeFileSync(join(root, 'tsconfig.json'), '{}\n');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const stale = () => staleReason('demo', readManifest('demo', root), root);
const runBundle = () => execFileSync(process.execPath, [join(outDirOf(root), readManifest('demo', root)!.bundle)], { encoding: 'utf8' });

describe('bundles', () => {
  it('builds a CommonJS bundle in which import.meta.url is the source file URL', async () => {
    await buildBundle('demo', { root, entry: ENTRY });
    expect(runBundle()).toBe('hello from greet.ts\n');
    const manifest = readManifest('demo', root)!;
    expect(manifest.bundle).toMatch(/^demo-[0-9a-f]{16}\.cjs$/);
    expect(manifest.inputs.map(([file]) => file)).toEqual(expect.arrayContaining(['greet.ts', 'tsconfig.json', 'package.json']));
    expect(stale()).toBeUndefined();
  });

  it('is stale when a source changes, appears or disappears, or the bundle is gone', async () => {
    await buildBundle('demo', { root, entry: ENTRY });
    writeFileSync(join(root, 'greet.ts'), 'export const greet = (): string => "changed";\n');
    expect(stale()).toBe('greet.ts changed');
    await buildBundle('demo', { root, entry: ENTRY });
    expect(runBundle()).toBe('changed\n');

    writeFileSync(join(root, 'package.json'), '{}\n'); // absent at build time
    expect(stale()).toBe('package.json was created');
    await buildBundle('demo', { root, entry: ENTRY });
    rmSync(join(root, 'tsconfig.json'));
    expect(stale()).toBe('tsconfig.json was removed');
    await buildBundle('demo', { root, entry: ENTRY });
    rmSync(join(outDirOf(root), readManifest('demo', root)!.bundle));
    expect(stale()).toMatch(/^demo-[0-9a-f]{16}\.cjs is missing$/);
  });

  it('catches an edit that keeps the size and the mtime-only touch of a checkout', async () => {
    await buildBundle('demo', { root, entry: ENTRY });
    const file = join(root, 'greet.ts');
    const source = readFileSync(file, 'utf8');
    utimesSync(file, new Date(), new Date(Date.now() + 5000)); // touched, same content
    expect(stale()).toBeUndefined();
    const [, mtimeMs] = readManifest('demo', root)!.inputs.find(([f]) => f === 'greet.ts')!;
    expect(mtimeMs).toBeGreaterThan(Date.now()); // the manifest took the new mtime: no hashing next time
    writeFileSync(file, source.replace('hello', 'howdy')); // same size, new mtime
    expect(stale()).toBe('greet.ts changed');
  });

  it('keeps one build per bundle: older builds and their code caches are removed', async () => {
    await buildBundle('demo', { root, entry: ENTRY });
    const first = readManifest('demo', root)!.bundle;
    writeFileSync(join(outDirOf(root), first.replace(/\.cjs$/, '.v8cache')), 'cache');
    writeFileSync(join(root, 'greet.ts'), 'export const greet = (): string => "v2";\n');
    await buildBundle('demo', { root, entry: ENTRY });
    const files = execFileSync('ls', [outDirOf(root)], { encoding: 'utf8' }).trim().split('\n');
    expect(files).toEqual([readManifest('demo', root)!.bundle, 'demo.json'].sort());
  });

  it('fails the build on an import.meta other than .url (CommonJS would make it an empty object)', async () => {
    writeFileSync(join(root, 'greet.ts'), 'export const greet = (): string => String(import.meta.dirname);\n');
    await expect(buildBundle('demo', { root, entry: ENTRY })).rejects.toThrow(/import\.meta/);
  });
});
