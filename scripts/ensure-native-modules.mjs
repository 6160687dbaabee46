#!/usr/bin/env node
// postinstall: make sure native addons load on this machine.
//
// argon2 ships N-API prebuilds; on some hosts its linux-x64 prebuild crashes with SIGSEGV on
// require (seen with Node 20 on Debian bookworm). npm 11 does not run dependency install
// scripts by default, so nothing would rebuild it: probe it in a child process and, if it
// cannot hash, compile it from source (needs python3, make and g++).
import { spawnSync } from 'node:child_process';

const probe = () =>
  spawnSync(process.execPath, ['-e', "require('argon2').hash('probe').then(() => process.exit(0), () => process.exit(1))"], {
    stdio: 'ignore',
  });

let result = probe();
if (result.status === 0) process.exit(0);
console.log(`ensure-native-modules: argon2 failed to load (${result.signal ?? `exit ${result.status}`}); compiling it from source`);
const rebuild = spawnSync('npm', ['rebuild', 'argon2'], {
  stdio: 'inherit',
  env: { ...process.env, npm_config_build_from_source: 'true' },
});
result = probe();
if (rebuild.status !== 0 || result.status !== 0) {
  console.error('ensure-native-modules: argon2 still does not load; install python3, make and g++ and run `npm rebuild argon2 --build-from-source`');
  process.exit(1);
}
console.log('ensure-native-modules: argon2 compiled and loads');
