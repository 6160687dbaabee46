/**
 * `npm run docker-engine -- <command>`: manage the private Docker engine.
 *
 *   up      start dockerd (idempotent; it keeps running until `down`) and print DOCKER_HOST
 *   down    stop dockerd by PID (even while tests use it), delete its bridges and leftover mounts (images stay cached)
 *   env     print `export DOCKER_HOST=…` lines for `eval "$(npm run -s docker-engine -- env)"`
 *   images  start dockerd if needed (and stop it again if nothing else holds it), build the stand-in base images that are missing or stale
 *           (`--force` rebuilds all); prints tag, size and whether each was cached
 *   status  print whether the daemon runs
 *
 * Exit codes: 0 ok, 1 failure (message on stderr), 2 usage error.
 */
import { acquireEngine, dockerEnv, enginePaths, ping, releaseEngine, runningPid, stopEngine } from './engine.js';
import { ensureBaseImages } from './images.js';

const USAGE = 'usage: npm run docker-engine -- <up|down|env|images [--force]|status>';

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const paths = enginePaths();
  switch (command) {
    case 'up': {
      // The `cli` lease keeps the daemon running after tests that share it finish.
      const r = await acquireEngine(paths, 'cli');
      console.log(`dockerd ${r.started ? 'started' : 'already running'} (pid ${runningPid(paths)})`);
      console.log(`export DOCKER_HOST=${dockerEnv(paths).DOCKER_HOST}`);
      return 0;
    }
    case 'down': {
      const r = await stopEngine(paths);
      console.log(r.stopped ? 'dockerd stopped' : 'dockerd was not running');
      if (r.removedBridges.length) console.log(`removed bridges: ${r.removedBridges.join(' ')}`);
      if (r.removedMounts.length) console.log(`removed mounts: ${r.removedMounts.length}`);
      return 0;
    }
    case 'env': {
      for (const [k, v] of Object.entries(dockerEnv(paths))) console.log(`export ${k}=${v}`);
      console.log('alias docker=/usr/bin/docker');
      return 0;
    }
    case 'status': {
      const pid = runningPid(paths);
      const answering = pid !== undefined && (await ping(paths));
      console.log(pid === undefined ? 'not running' : `running (pid ${pid})${answering ? '' : ', not answering'}`);
      return 0;
    }
    case 'images': {
      const unknown = rest.filter((a) => a !== '--force');
      if (unknown.length) {
        console.error(`docker-engine images: unknown option ${unknown[0]}\n${USAGE}`);
        return 2;
      }
      const lease = await acquireEngine(paths);
      let built;
      try {
        built = await ensureBaseImages({ force: rest.includes('--force'), paths });
      } finally {
        await releaseEngine(lease); // stops the daemon unless `up` or a test run holds it
      }
      for (const b of built) {
        console.log(`${b.tag.padEnd(32)} ${(b.sizeBytes / 2 ** 20).toFixed(0).padStart(5)} MiB  ${b.cached ? 'cached' : `built in ${b.seconds.toFixed(1)} s`}`);
      }
      return 0;
    }
    default:
      console.error(command ? `docker-engine: unknown command "${command}"\n${USAGE}` : USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`docker-engine: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
