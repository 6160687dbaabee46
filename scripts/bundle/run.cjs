// @ts-check
/**
 * `node scripts/bundle/run.cjs <bundle> [args...]`: runs a prebuilt bundle (`bundles.cjs`) as if
 * it were the command itself (`process.argv` = node, bundle, args...).
 *
 * 1. Checks that the bundle matches its sources (`staleReason`, one stat per input); if not,
 *    rebuilds it first (`build.mjs`, about a second) and says so on stderr. Stale code never runs.
 * 2. Compiles it with its V8 code cache (`<bundle>.v8cache`, written after the first run with
 *    every function that run compiled), so later runs skip parsing and compiling ~2 MB of
 *    JavaScript. Node 20 has no `module.enableCompileCache`; `vm.Script` `cachedData` is what it
 *    builds on. The cache is keyed by the bundle's content hash; V8 itself rejects a cache made
 *    by another V8 version or flags, and then a new one is written.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');
const { BUNDLES, outDirOf, readManifest, staleReason, writeFileAtomic } = require('./bundles.cjs');

/**
 * Runs bundle `name` in this process.
 * @param {string} name
 * @param {string[]} args
 */
async function run(name, args) {
  let manifest = readManifest(name);
  const reason = staleReason(name, manifest);
  if (reason !== undefined) {
    const started = performance.now();
    const { buildBundle } = await import('./build.mjs');
    manifest = await buildBundle(name);
    process.stderr.write(`bundle: ${name}: ${reason}; rebuilt in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }
  if (!manifest) throw new Error(`bundle ${name}: no manifest after build`);
  const dir = outDirOf();
  const file = path.join(dir, manifest.bundle);
  const cacheFile = file.replace(/\.cjs$/, '.v8cache');
  const code = fs.readFileSync(file, 'utf8');
  /** @type {Buffer | undefined} */
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(code), { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) {
    // After the run, the cache also holds the functions compiled lazily while running.
    process.once('exit', () => {
      try {
        writeFileAtomic(cacheFile, script.createCachedData());
      } catch {
        // Read-only node_modules: run without a cache.
      }
    });
  }
  process.argv = [process.argv[0], file, ...args];
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(dir);
  script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, dir);
}

const [name, ...args] = process.argv.slice(2);
if (!name || !Object.hasOwn(BUNDLES, name)) {
  process.stderr.write(`usage: node scripts/bundle/run.cjs <${Object.keys(BUNDLES).join('|')}> [args...]\n`);
  process.exitCode = 2;
} else {
  run(name, args).catch((error) => {
    process.stderr.write(`bundle: ${name}: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  });
}
