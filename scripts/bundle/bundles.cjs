// @ts-check
/**
 * The prebuilt bundles behind the fast commands (`npm run synth`, `cdk8s synth`) and the check
 * that a bundle still matches its sources. Plain CommonJS on purpose: this runs on every synth,
 * before anything is compiled, so it must load in plain `node` in well under a millisecond.
 *
 * A bundle is one CommonJS file built by esbuild (`build.mjs`) from the TypeScript sources and
 * their packages. Next to it, `<name>.json` (the manifest) records every input that decides its
 * content: our own source files and, for each bundled npm package, its `package.json`, plus
 * `node_modules/.package-lock.json` (rewritten by every npm install), `tsconfig.json` and the
 * bundler's own files. Each input is recorded as [path, mtimeMs, size, sha256].
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** Repository root. */
const ROOT = path.resolve(__dirname, '../..');

/**
 * Where the bundles of project `root` live, with their manifests and V8 code caches: inside
 * node_modules, so `npm ci` starts from a clean slate and nothing here can be committed.
 * @param {string} [root]
 */
function outDirOf(root = ROOT) {
  return path.join(root, 'node_modules', '.cache', 'expense-tracker', 'bundles');
}

/** Imported first by every bundle: settings for one-shot processes (see prelude.ts). */
const PRELUDE = "import './scripts/bundle/prelude.ts';\n";

/**
 * The bundles, by name. `entry` is the TypeScript source of the bundle's entry module (after
 * PRELUDE), resolved from the repository root; it runs when the bundle is loaded.
 * @type {Record<string, { readonly entry: string; readonly description: string }>}
 */
const BUNDLES = {
  synth: {
    description: '`npm run synth`',
    entry: `${PRELUDE}import { synthCommand } from './scripts/synth.ts';\nsynthCommand(process.argv.slice(2)).then((code) => { process.exitCode = code; });\n`,
  },
  'cdk8s-app': { description: 'the `app` of cdk8s.yaml (`cdk8s synth`)', entry: `${PRELUDE}import './charts/main.ts';\n` },
  'bench-tenants': { description: 'the tenant worker of `npm run bench:synth`', entry: `${PRELUDE}import './bench/lib/tenants.ts';\n` },
};

/**
 * Files that are inputs of every bundle besides what esbuild reports: relative paths are
 * resolved against the project root, the bundler's own files are absolute.
 */
const ALWAYS_INPUTS = [
  'tsconfig.json',
  'package.json',
  'node_modules/.package-lock.json',
  __filename,
  path.join(__dirname, 'build.mjs'),
];

/**
 * One input: path (relative to the root, or absolute), mtime in ms, size in bytes and content
 * hash; an input that did not exist at build time is recorded with size -1 (creating it makes
 * the bundle stale).
 * @typedef {[path: string, mtimeMs: number, size: number, sha256: string]} InputRecord
 * @typedef {{ version: 1; name: string; root: string; bundle: string; sha256: string; inputs: InputRecord[] }} Manifest
 */

/**
 * @param {string} name
 * @param {string} [root]
 */
function manifestPath(name, root = ROOT) {
  return path.join(outDirOf(root), `${name}.json`);
}

/**
 * The manifest of bundle `name`, or undefined when there is none (never built, or unreadable).
 * @param {string} name
 * @param {string} [root]
 * @returns {Manifest | undefined}
 */
function readManifest(name, root = ROOT) {
  try {
    const manifest = JSON.parse(fs.readFileSync(manifestPath(name, root), 'utf8'));
    return manifest && manifest.version === 1 ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * SHA-256 of a file's content, hex.
 * @param {string} file
 */
function sha256File(file) {
  return require('node:crypto').createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Writes `content` to `file` through a temporary sibling and a rename, so a concurrent reader sees
 * the old or the new file, never a partial one.
 * @param {string} file
 * @param {string | Uint8Array} content
 */
function writeFileAtomic(file, content) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

/**
 * Why bundle `name` cannot be used as it is, or undefined when it is current.
 *
 * Cost on the hot path: one stat per input (about 30 own sources and 20 package.json files,
 * well under a millisecond). An input whose mtime changed but whose size did not is hashed, so a
 * checkout that only touched files does not force a rebuild; the manifest is then refreshed with
 * the new mtimes.
 * @param {string} name
 * @param {Manifest | undefined} manifest
 * @param {string} [root]
 * @returns {string | undefined}
 */
function staleReason(name, manifest, root = ROOT) {
  if (!manifest) return 'not built yet';
  if (manifest.root !== root) return `built for ${manifest.root}`;
  if (!fs.existsSync(path.join(outDirOf(root), manifest.bundle))) return `${manifest.bundle} is missing`;
  let touched = false;
  for (const input of manifest.inputs) {
    const [file, mtimeMs, size, sha] = input;
    const absolute = path.resolve(root, file);
    const stat = fs.statSync(absolute, { throwIfNoEntry: false });
    if (!stat) {
      if (size === -1) continue;
      return `${file} was removed`;
    }
    if (size === -1) return `${file} was created`;
    if (stat.mtimeMs === mtimeMs && stat.size === size) continue;
    if (stat.size !== size || sha256File(absolute) !== sha) return `${file} changed`;
    input[1] = stat.mtimeMs;
    touched = true;
  }
  if (touched) {
    try {
      writeFileAtomic(manifestPath(name, root), JSON.stringify(manifest));
    } catch {
      // A read-only checkout still works; the hashes are simply compared again next time.
    }
  }
  return undefined;
}

module.exports = { ROOT, outDirOf, BUNDLES, ALWAYS_INPUTS, manifestPath, readManifest, sha256File, staleReason, writeFileAtomic };
