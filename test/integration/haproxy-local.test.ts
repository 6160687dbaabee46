/**
 * `npm run local` end to end (scripts/local/cli.ts as a child process): the app answers through
 * HAProxy on one port, SIGTERM/SIGINT stop every process it started (none is left behind), and
 * PostgreSQL data in the state directory survives a restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@expense-tracker/tools/process/ports';

const run = promisify(execFile);
const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

interface LocalRun {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | string>;
}

/** Processes (other than this test process) whose command line or environment mentions `marker`. */
async function processesMentioning(markers: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((d) => /^[0-9]+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    const read = (f: string) => readFile(`/proc/${pid}/${f}`).then((b) => b.toString().replace(/\0/g, ' '), () => '');
    const text = `${await read('cmdline')} ${await read('environ')}`;
    if (markers.some((m) => text.includes(m))) found.push(`${pid}: ${(await read('cmdline')).slice(0, 120)}`);
  }
  return found;
}

describe('npm run local', () => {
  let stateDir: string;
  let ports: { port: number; stats: number; pg: number };
  const runs: LocalRun[] = [];

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'local-it-'));
    // As root, PostgreSQL runs as the postgres user and must be able to enter the state dir.
    await chmod(stateDir, 0o755);
    ports = { port: await freePort(), stats: await freePort(), pg: await freePort() };
  });

  afterAll(async () => {
    for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    // If a run failed half-way, stop its PostgreSQL too (it daemonizes).
    await run('runuser', ['-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_ctl', '-D', join(stateDir, 'postgres', 'data'), '-m', 'immediate', 'stop']).catch(
      () => undefined,
    );
    await rm(stateDir, { recursive: true, force: true });
  }, 60_000);

  async function start(): Promise<LocalRun> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'scripts/local/cli.ts', '--port', String(ports.port), '--stats-port', String(ports.stats), '--pg-port', String(ports.pg), '--state-dir', stateDir],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | string>((r) => child.once('exit', (code, signal) => r(code ?? signal ?? 'unknown')));
    const r = { child, output: () => out, exited };
    runs.push(r);
    const deadline = Date.now() + 180_000;
    while (!out.includes('Ctrl-C stops everything')) {
      if (child.exitCode !== null) throw new Error(`npm run local exited early:\n${out}`);
      if (Date.now() > deadline) throw new Error(`npm run local not ready after 180 s:\n${out}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    return r;
  }

  async function stop(r: LocalRun, signal: NodeJS.Signals): Promise<void> {
    r.child.kill(signal);
    const code = await Promise.race([r.exited, new Promise((res) => setTimeout(() => res('timeout'), 60_000))]);
    expect(code, r.output()).toBe(0);
    expect(r.output()).toContain(`${signal}: stopping everything`);
    // Nothing it started is left: no process refers to the state dir (PostgreSQL, HAProxy) or to
    // the database port (the app instances' DATABASE_URL).
    expect(await processesMentioning([stateDir, `127.0.0.1:${ports.pg}/`])).toEqual([]);
  }

  it(
    'serves the app through HAProxy, stops everything on SIGTERM, keeps PostgreSQL data across restarts',
    async () => {
      const first = await start();
      const page = await fetch(`http://127.0.0.1:${ports.port}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<html/i);
      const metrics = await (await fetch(`http://127.0.0.1:${ports.stats}/metrics`)).text();
      expect(metrics).toMatch(/haproxy_server_status\{proxy="web",server="web1",state="UP"\} 1/);
      expect(metrics).toMatch(/haproxy_server_status\{proxy="web",server="web2",state="UP"\} 1/);
      // The detector used after the stop sees the running processes: PostgreSQL, HAProxy master
      // and worker, both app instances.
      expect((await processesMentioning([stateDir, `127.0.0.1:${ports.pg}/`])).length).toBeGreaterThanOrEqual(5);
      const psql = (sql: string) =>
        run('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(ports.pg), '-U', 'postgres', '-d', 'expenses', '-c', sql]);
      await psql('CREATE TABLE local_marker (note text); INSERT INTO local_marker VALUES ($$kept$$)');
      await stop(first, 'SIGTERM');

      const second = await start();
      expect(second.output()).not.toContain('initdb');
      expect(second.output()).toContain('no pending migrations');
      expect((await psql('SELECT note FROM local_marker')).stdout.trim()).toBe('kept');
      await stop(second, 'SIGINT');
    },
    400_000,
  );
});
