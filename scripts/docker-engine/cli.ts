/**
 * `npm run docker-engine -- <command>`: manage the private Docker engine.
 *
 *   up      start dockerd (idempotent) and print DOCKER_HOST
 *   down    stop dockerd by PID, delete its bridges and leftover mounts (images stay cached)
 *   env     print `export DOCKER_HOST=…` lines for `eval "$(npm run -s docker-engine -- env)"`
 *   images  start dockerd if needed and build the stand-in base images that are missing or stale
 *           (`--force` rebuilds all); prints tag, size and whether each was cached
 *   status  print whether the daemon runs
 *
 * Exit codes: 0 ok, 1 failure (message on stderr), 2 usage error.
 */
import { dockerEnv, enginePaths, ping, runningPid, startEngine, stopEngine } from './engine.js';
import { ensureBaseImages } from './images.js';

const USAGE = 'usage: npm run docker-engine -- <up|down|env|images [--force]|status>';

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const paths = enginePaths();
  switch (command) {
    case 'up': {
      const r = await startEngine(paths);
      console.log(`dockerd ${r.started ? 'started' : 'already running'} (pid ${r.pid})`);
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
      await startEngine(paths);
      const built = await ensureBaseImages({ force: rest.includes('--force'), paths });
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
