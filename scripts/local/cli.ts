/**
 * `npm run local [-- --instances N] [--backup N] [--port P] [--stats-port P] [--pg-port P] [--env local] [--set path=value]... [--log-level L]`
 *
 * The compose topology of the seeds as processes on loopback, no Docker: PostgreSQL (data in
 * `.local/postgres/`, git-ignored, kept across runs; `--state-dir` moves it), Redis, a mail sink standing in for
 * SendGrid (mails are logged), N app instances (default 2) and HAProxy in front, configured
 * from the environment model (`--env`, `--set` as in `npm run synth`). The app is served on
 * one port (default 8080); HAProxy's stats page and Prometheus metrics on another (default 8404).
 * App logs default to `warn` (`--log-level info` logs every request, health checks included);
 * HAProxy's access log (one line per request) is always shown.
 *
 * Ctrl-C (SIGINT) or SIGTERM stops everything (HAProxy soft stop, app SIGTERM drain, Redis,
 * PostgreSQL fast shutdown) and exits 0 once every child has exited. Exit 2 on bad flags,
 * 1 when a component fails to start (after stopping what did start).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, ENVIRONMENT_NAMES, loadEnvironment } from '@expense-tracker/model/environment';
import { startLocalTopology, type LocalTopology } from './topology.js';
import { HAPROXY } from '@expense-tracker/model/components';
import { intFlag } from '../lib/flags.js';

const USAGE =
  `usage: npm run local -- [--instances N] [--backup N] [--port P] [--stats-port P] [--pg-port P] [--env ${ENVIRONMENT_NAMES.join('|')}] [--set path=value]... [--log-level warn] [--state-dir .local] [--quiet]`;

async function main(): Promise<number> {
  let flags;
  try {
    const { values } = parseArgs({
      options: {
        instances: { type: 'string' },
        backup: { type: 'string' },
        port: { type: 'string' },
        'stats-port': { type: 'string' },
        'pg-port': { type: 'string' },
        env: { type: 'string', default: 'local' },
        'log-level': { type: 'string', default: 'warn' },
        'state-dir': { type: 'string', default: '.local' },
        set: { type: 'string', multiple: true },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    flags = {
      instances: intFlag('instances', values.instances, 2, 1, 32),
      backup: intFlag('backup', values.backup, 0, 0, 8),
      port: intFlag('port', values.port, HAPROXY.httpPort, 1, 65535),
      statsPort: intFlag('stats-port', values['stats-port'], HAPROXY.statsPort, 1, 65535),
      pgPort: intFlag('pg-port', values['pg-port'], 15432, 1, 65535),
      environment: loadEnvironment(values.env!, { set: values.set ?? [] }),
      quiet: values.quiet!,
      logLevel: values['log-level']!,
      stateDir: values['state-dir']!,
    };
    if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(flags.logLevel)) {
      throw new Error(`--log-level must be one of fatal, error, warn, info, debug, trace; got "${flags.logLevel}"`);
    }
  } catch (error) {
    console.error(`local: ${(error as Error).message}\n${error instanceof ConfigError ? '' : USAGE}`);
    return 2;
  }
  if (!flags.environment.haproxy.enabled) {
    console.error(`local: haproxy.enabled is false in environment "${flags.environment.name}"; nothing to put in front of the app`);
    return 2;
  }

  // PostgreSQL data and HAProxy's cfg/socket live here (relative paths from the repository root).
  const root = resolve(import.meta.dirname, '..', '..', flags.stateDir);
  const log = (source: string, line: string) => {
    if (!flags.quiet || source === 'local') console.log(`${source.padEnd(11)}| ${line}`);
  };
  let topology: LocalTopology | undefined;
  let stopping = false;
  let requestStop = (_reason: string) => {};
  const done = new Promise<void>((resolveDone) => {
    requestStop = (reason) => {
      if (stopping) return;
      stopping = true;
      log('local', `${reason}: stopping everything`);
      resolveDone();
    };
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => requestStop(signal));
  // If whatever started us goes away without signalling (e.g. a shell that does not forward
  // SIGTERM), do not leave the topology running as orphans.
  const parent = process.ppid;
  const watchParent = setInterval(() => {
    if (process.ppid !== parent) requestStop('parent process exited');
  }, 1000);
  watchParent.unref();

  try {
    log('local', `starting ${flags.instances} app instance(s)${flags.backup ? ` + ${flags.backup} backup` : ''} behind HAProxy (environment ${flags.environment.name})`);
    topology = await startLocalTopology({
      environment: flags.environment,
      instances: flags.instances,
      backupInstances: flags.backup,
      port: flags.port,
      statsPort: flags.statsPort,
      workDir: resolve(root, 'haproxy'),
      postgres: { kind: 'persistent', dir: resolve(root, 'postgres'), port: flags.pgPort },
      log,
      appLogLevel: flags.logLevel,
    });
  } catch (error) {
    console.error(`local: ${(error as Error).message}`);
    return 1;
  }
  if (!stopping) {
    log('local', `app:     ${topology.url}/`);
    log('local', `stats:   ${topology.haproxy.statsUrl}${HAPROXY.statsUri}   metrics: ${topology.haproxy.statsUrl}${HAPROXY.metricsPath}`);
    log('local', `cfg:     ${topology.haproxy.configPath}`);
    log('local', 'Ctrl-C stops everything');
    // An unexpected HAProxy exit ends the run too.
    void topology.haproxy.exited.then((code) => requestStop(`haproxy exited (${code})`));
    await done;
  }
  await topology.stop();
  log('local', 'stopped');
  return 0;
}

process.exitCode = await main();
