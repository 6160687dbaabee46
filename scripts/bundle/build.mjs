// @ts-check
/**
 * Builds the bundles of `bundles.cjs` with esbuild: one CommonJS file per command, our
 * TypeScript and every npm package it imports, run by `run.cjs` with plain `node` (no tsx
 * loader, no module resolution, a V8 code cache). `npm ci` builds them (`prepare`); `run.cjs`
 * rebuilds one whenever an input changed.
 *
 * `node scripts/bundle/build.mjs [name...]` builds the named bundles (default: all).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import bundles from './bundles.cjs';

const { ROOT, BUNDLES, ALWAYS_INPUTS, outDirOf, manifestPath, sha256File, writeFileAtomic } = bundles;

/**
 * Our modules read files next to themselves through `import.meta.url` (e.g. app/package.json for
 * the default image tag). CommonJS output has no `import.meta`, so each source file gets its own
 * original URL as a literal: paths resolve exactly as when the sources run under tsx.
 * @type {import('esbuild').Plugin}
 */
const sourceUrlPlugin = {
  name: 'source-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?ts$/ }, async (args) => {
      if (args.path.split(/[\\/]/).includes('node_modules')) return undefined;
      const source = await readFile(args.path, 'utf8');
      return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

/**
 * The package.json of the npm package that holds `file` (a path inside node_modules).
 * @param {string} file
 */
function packageJsonOf(file) {
  const parts = file.split('/');
  const i = parts.lastIndexOf('node_modules');
  const end = parts[i + 1].startsWith('@') ? i + 3 : i + 2;
  return [...parts.slice(0, end), 'package.json'].join('/');
}

/**
 * @param {string} file path relative to root, or absolute
 * @param {string} root
 * @returns {import('./bundles.cjs').InputRecord}
 */
function inputRecord(file, root) {
  const absolute = resolve(root, file);
  const stat = statSync(absolute, { throwIfNoEntry: false });
  return stat ? [file, stat.mtimeMs, stat.size, sha256File(absolute)] : [file, 0, -1, ''];
}

/**
 * Builds bundle `name` and writes it with its manifest; removes older builds of it.
 * @param {string} name a key of BUNDLES, or any name when `options.entry` is given
 * @param {{ root?: string; entry?: string }} [options] project root and entry source (tests)
 * @returns {Promise<import('./bundles.cjs').Manifest>}
 */
export async function buildBundle(name, options = {}) {
  const root = options.root ?? ROOT;
  const entry = options.entry ?? BUNDLES[name]?.entry;
  if (entry === undefined) throw new Error(`unknown bundle "${name}" (known: ${Object.keys(BUNDLES).join(', ')})`);
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    stdin: { contents: entry, resolveDir: root, sourcefile: `${name}-entry.ts`, loader: 'ts' },
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    // Smaller source is less to read and deserialize; identifiers stay readable in stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    write: false,
    metafile: true,
    outfile: join(outDirOf(root), `${name}.cjs`),
    plugins: [sourceUrlPlugin],
    logLevel: 'silent',
    // Any import.meta left (other than .url, handled above) would silently become {}.
    logOverride: { 'empty-import-meta': 'error' },
  });
  const code = result.outputFiles[0].contents;
  const sha256 = createHash('sha256').update(code).digest('hex');
  const files = new Set(ALWAYS_INPUTS);
  for (const input of Object.keys(result.metafile.inputs)) {
    if (input === `${name}-entry.ts`) continue; // the stdin entry
    if (input.split('/').includes('node_modules')) {
      files.add(packageJsonOf(input));
      continue;
    }
    files.add(input);
    // Workspace packages (linked into node_modules, resolved to their real path): their
    // package.json `exports` decide what an import resolves to.
    for (let dir = dirname(input); dir !== '.' && dir !== '/' && !dir.startsWith('..'); dir = dirname(dir)) {
      if (existsSync(join(root, dir, 'package.json'))) files.add(join(dir, 'package.json'));
    }
  }
  const outDir = outDirOf(root);
  mkdirSync(outDir, { recursive: true });
  const bundle = `${name}-${sha256.slice(0, 16)}.cjs`;
  writeFileAtomic(join(outDir, bundle), code);
  /** @type {import('./bundles.cjs').Manifest} */
  const manifest = { version: 1, name, root, bundle, sha256, inputs: [...files].sort().map((f) => inputRecord(f, root)) };
  writeFileAtomic(manifestPath(name, root), JSON.stringify(manifest));
  // Older builds and their code caches; a process still running one has already read it.
  const own = new RegExp(`^${name.replace(/[^a-z0-9]/gi, '\\$&')}-([0-9a-f]{16})\\.(cjs|v8cache)$`);
  for (const file of readdirSync(outDir)) {
    const match = own.exec(file);
    if (match && match[1] !== sha256.slice(0, 16)) rmSync(join(outDir, file), { force: true });
  }
  return manifest;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(BUNDLES);
  const started = performance.now();
  for (const name of names) {
    try {
      await buildBundle(name);
    } catch (error) {
      console.error(`bundle: ${name}: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
  }
  if (!process.exitCode) console.error(`bundle: built ${names.join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s → ${relative(ROOT, outDirOf())}`);
}
