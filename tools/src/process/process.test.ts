import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseTimes, runGoMeasured } from './go.js';
import {
  cacheRoot, freePort, goEnv, isRunning, launchDetached, LineTail, logTail, onLines, pollUntil, portOpen,
  processAlive, runsBinary, stopProcesses, TimeoutError, waitForPort, waitUntil, withLock,
} from './index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tools-process-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('ports', () => {
  it('freePort returns a bindable loopback port; waitForPort sees a listener; portOpen sees it closed again', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(await portOpen(port)).toBe(false);
    const server = createServer().listen(port, '127.0.0.1');
    await waitForPort(port, '127.0.0.1', 5000);
    expect(await portOpen(port)).toBe(true);
    await new Promise((r) => server.close(r));
    expect(await portOpen(port)).toBe(false);
  });

  it('waitForPort names host and port when nothing listens', async () => {
    const port = await freePort();
    await expect(waitForPort(port, '127.0.0.1', 300)).rejects.toThrow(`a listener on 127.0.0.1:${port}`);
  });
});

describe('waitUntil / pollUntil', () => {
  it('returns the first truthy value, counting thrown errors as "not yet"', async () => {
    let calls = 0;
    const value = await waitUntil('three calls', () => {
      calls += 1;
      if (calls === 1) throw new Error('not ready');
      return calls === 3 ? { calls } : undefined;
    }, { timeoutMs: 5000, intervalMs: 1 });
    expect(value).toEqual({ calls: 3 });
  });

  it('throws a TimeoutError naming what it waited for and the last error', async () => {
    const error = await waitUntil('the moon', () => {
      throw new Error('still night');
    }, { timeoutMs: 50, intervalMs: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toMatch(/waiting for the moon \(last: "still night"\)/);
  });

  it('pollUntil answers true or false without throwing', async () => {
    expect(await pollUntil(() => true, { timeoutMs: 10 })).toBe(true);
    expect(await pollUntil(() => false, { timeoutMs: 30, intervalMs: 5 })).toBe(false);
  });
});

describe('logs', () => {
  it('onLines joins chunks into lines and flushes the unterminated last line', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    onLines(stream, (l) => lines.push(l));
    stream.write('go: downloading a\ncompiled');
    stream.write(' b\n\nlast');
    stream.end();
    await new Promise((r) => stream.on('end', r));
    expect(lines).toEqual(['go: downloading a', 'compiled b', '', 'last']);
  });

  it('LineTail keeps the newest lines; logTail reads a file or says it is missing', () => {
    const tail = new LineTail(2);
    ['a', 'b', 'c'].forEach((l) => tail.push(l));
    expect(String(tail)).toBe('b\nc');
    const file = join(dir, 'x.log');
    writeFileSync(file, '1\n2\n3\n');
    expect(logTail(file, 2)).toBe('2\n3');
    expect(logTail(join(dir, 'absent.log'))).toContain('(no log at');
  });
});

describe('cache and Go environment', () => {
  it('cacheRoot: EXPENSE_TRACKER_CACHE wins, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(cacheRoot({ EXPENSE_TRACKER_CACHE: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c');
    expect(cacheRoot({ XDG_CACHE_HOME: '/x' })).toBe('/x/expense-tracker');
    expect(cacheRoot({})).toMatch(/\/\.cache\/expense-tracker$/);
  });

  it('goEnv: static, no toolchain download, caches under the cache root, extras win', () => {
    const env = goEnv({ GONOSUMDB: 'example.com' }, { EXPENSE_TRACKER_CACHE: '/c' });
    expect(env).toMatchObject({ CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOMODCACHE: '/c/gomod', GOCACHE: '/c/gocache', GONOSUMDB: 'example.com' });
    expect(env.GOFLAGS).toContain('-mod=readonly');
    expect(goEnv({}, { EXPENSE_TRACKER_CACHE: '/c', EXPENSE_TRACKER_GOCACHE: '/g' }).GOCACHE).toBe('/g');
  });
});

describe('withLock', () => {
  it('serializes holders of the same lock across concurrent callers and reports waiting', async () => {
    const events: string[] = [];
    const waits: string[] = [];
    const holder = (id: string) => withLock('build-x-v1', async () => {
      events.push(`start ${id}`);
      await new Promise((r) => setTimeout(r, 150));
      events.push(`end ${id}`);
      return id;
    }, { dir, progress: (m) => waits.push(m) });
    expect(await Promise.all([holder('a'), holder('b')])).toEqual(['a', 'b']);
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b']);
    expect(waits.join('\n')).toContain('waiting for another process holding build-x-v1');
  });

  it('is released when the function throws, and rejects names that are not file names', async () => {
    await expect(withLock('l', async () => { throw new Error('boom'); }, { dir })).rejects.toThrow('boom');
    expect(await withLock('l', async () => 'again', { dir, waitMs: 1000 })).toBe('again');
    await expect(withLock('../escape', async () => 1, { dir })).rejects.toThrow('lock name "../escape"');
  });

  it('a second process waits for the lock a first process holds', async () => {
    const script = join(dir, 'hold.mjs');
    const lockModule = new URL('./lock.ts', import.meta.url).pathname;
    writeFileSync(script, `import { withLock } from ${JSON.stringify(lockModule)};
await withLock('shared', async () => { process.stdout.write('held\\n'); await new Promise((r) => setTimeout(r, 1500)); }, { dir: ${JSON.stringify(dir)} });\n`);
    const tsx = join(process.cwd(), 'node_modules', '.bin', 'tsx');
    const child = launchDetached({ name: 'holder', binary: process.execPath, args: [tsx, script], log: join(dir, 'holder.log') });
    await waitUntil('the other process to hold the lock', () => readFileSync(join(dir, 'holder.log'), 'utf8').includes('held'), { timeoutMs: 30_000, intervalMs: 50 });
    const started = Date.now();
    await withLock('shared', async () => undefined, { dir });
    expect(Date.now() - started).toBeGreaterThan(300);
    await stopProcesses([child], 2000);
  }, 60_000);
});

describe('supervised processes', () => {
  it('runs each process as its own group leader and stops the whole group, children included', async () => {
    const sh = '/bin/sh';
    const log = join(dir, 'sh.log');
    const record = launchDetached({ name: 'sh', binary: sh, args: ['-c', 'sleep 300 & echo child $!; wait'], log });
    const childPid = Number((await waitUntil('child pid in log', () => /child (\d+)/.exec(readFileSync(log, 'utf8')), { timeoutMs: 5000, intervalMs: 20 }))[1]);
    expect(isRunning(record)).toBe(true);
    expect(runsBinary(record.pid, '/bin/other')).toBe(false);
    const pgid = Number(readFileSync(`/proc/${record.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);
    expect(pgid).toBe(record.pid);
    await stopProcesses([record], 2000);
    expect(isRunning(record)).toBe(false);
    await waitUntil('the grandchild to be gone', () => !processAlive(childPid), { timeoutMs: 5000, intervalMs: 20 });
    // Idempotent: stopping again is a no-op.
    await stopProcesses([record], 100);
  });

  it('SIGKILLs a process that ignores SIGTERM after the grace period', async () => {
    const log = join(dir, 'stubborn.log');
    const record = launchDetached({ name: 'stubborn', binary: '/bin/sh', args: ['-c', "trap '' TERM; echo trapped; while :; do sleep 0.05; done"], log });
    // Running is not enough: a SIGTERM that lands before the shell has set its trap ends it at once.
    await waitUntil('the shell to ignore SIGTERM', () => readFileSync(log, 'utf8').includes('trapped'), { timeoutMs: 5000, intervalMs: 10 });
    const started = Date.now();
    await stopProcesses([record], 300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(isRunning(record)).toBe(false);
    // Nothing of the group executes any more (a zombie awaiting its reaper does not count).
    const live = () => execFileSync('/bin/sh', ['-c', `ps -o stat= -g ${record.pid} || true`]).toString().split('\n').filter((s) => s.trim() && !s.startsWith('Z'));
    await waitUntil('the process group to be gone', () => live().length === 0, { timeoutMs: 2000, intervalMs: 20 });
  });
});

describe('CPU seconds of a go command', () => {
  it("reads bash's `time` report (`%lU %lS`) as user + system seconds", () => {
    expect(parseTimes('1m2.500s 0m3.250s')).toBeCloseTo(65.75, 6);
    expect(parseTimes(' 0m0.000s 0m0.004s\n')).toBeCloseTo(0.004, 6);
    expect(parseTimes('real 1s')).toBeUndefined();
  });

  it('measures the CPU time go really used (not zero) and keeps its output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etk-go-cpu-'));
    try {
      const run = await runGoMeasured(['list', '-deps', 'std'], { cwd: dir, what: 'go list std', env: { GOFLAGS: '' } });
      expect(run.stdout).toContain('net/http');
      expect(run.cpuSeconds).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
