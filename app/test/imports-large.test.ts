/**
 * Large imports through the real processes: the web server and import workers as child
 * processes on PostgreSQL 15 and Redis 7 (see import-stack.ts).
 *
 * - A 1 GiB generated statement (IMPORT_TEST_BYTES overrides the size) is uploaded in one
 *   streamed request and imported by a worker: row counts, per-category sums and the line
 *   numbers of its malformed rows equal the generator's, and the web process's peak RSS stays
 *   under 200 MiB. Progress is printed while it runs (several minutes on two cores).
 * - A worker is SIGKILLed while staging and another while merging; the import resumes from its
 *   checkpoints and ends with exact counts; uploading the same file again adds nothing.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stagingTable } from '../src/imports/repo.js';
import { Client } from './harness.js';
import { ensureAppBuild, followImport, mib, startImportStack, uploadFile, type ImportStack } from './import-stack.js';
import { generateStatement, STATEMENT_QUERY, type StatementSummary } from './statement-generator.js';

const BIG = Number(process.env.IMPORT_TEST_BYTES ?? 1024 ** 3);
const MiB = 1024 * 1024;
const log = (msg: string) => console.log(`[imports-large ${new Date().toISOString().slice(11, 19)}] ${msg}`);

let stack: ImportStack;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'import-large-'));
  await ensureAppBuild(log);
  stack = await startImportStack({ compiled: true, env: { IMPORT_LEASE_SECONDS: '4', IMPORT_MAX_BYTES: '2Gi' } });
}, 600_000);
afterAll(async () => {
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function writeStatement(name: string, bytes: number, opts: { malformedEvery?: number; seed?: number; dayOrder?: 'sorted' | 'interleaved' } = {}): Promise<{ file: string; summary: StatementSummary }> {
  const file = path.join(dir, name);
  const { stream, summary } = generateStatement({ targetBytes: bytes, rowsPerDay: 2000, ...opts });
  const t0 = Date.now();
  let written = 0;
  let next = 0.25;
  stream.on('data', (c: Buffer) => {
    written += c.length;
    if (written >= next * bytes) {
      log(`generating ${name}: ${mib(written)} of ${mib(bytes)}`);
      next += 0.25;
    }
  });
  await pipeline(stream, createWriteStream(file));
  const s = await summary;
  log(`generated ${name}: ${mib(s.bytes)}, ${s.rows} rows (${s.expenses} expenses, ${s.credits} credits, ${s.errorLines.length} malformed) in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return { file, summary: s };
}

async function categorySums(userId: string) {
  const r = await stack.pool.query(
    `SELECT category, count(*)::int AS count, sum(amount_cents)::float8 AS cents FROM expenses WHERE user_id = $1 GROUP BY category`,
    [userId],
  );
  return Object.fromEntries(r.rows.map((x) => [x.category, { count: x.count, cents: x.cents }]));
}

async function userId(client: Client, email: string): Promise<string> {
  await client.signUp(email);
  return (await stack.pool.query('SELECT id FROM users WHERE email = $1', [email])).rows[0].id;
}

function reporter(label: string) {
  let last = '';
  return (imp: any) => {
    const line = `${label}: ${imp.state}/${imp.phase} ${(imp.progress * 100).toFixed(0)}% read ${imp.rows.read} staged ${imp.rows.staged} merged ${imp.rows.merged} inserted ${imp.rows.inserted}`;
    if (line !== last) log(line);
    last = line;
  };
}

describe('large imports through the web server and workers', () => {
  it(`${mib(BIG)} statement: exact counts and sums; the web process stays under 200 MiB`, async () => {
    const { file, summary } = await writeStatement('big.csv', BIG, { malformedEvery: 99_991 });
    const worker = await stack.startWorker();
    const client = new Client(stack.baseUrl);
    const uid = await userId(client, 'big@example.com');
    const t0 = Date.now();
    let nextUpload = 0.2;
    const sampler = setInterval(() => {
      stack.web.sample();
      worker.sample();
    }, 500);
    try {
      const up = await uploadFile(client, file, STATEMENT_QUERY, (sent, total) => {
        if (sent >= nextUpload * total) {
          log(`uploading: ${mib(sent)} of ${mib(total)}`);
          nextUpload += 0.2;
        }
      });
      expect(up.status, JSON.stringify(up.json)).toBe(202);
      log(`upload stored in ${((Date.now() - t0) / 1000).toFixed(0)} s; web peak RSS ${mib(stack.web.sample())}`);
      const done = await followImport(client, up.json.id, { intervalMs: 5_000, onState: reporter('import') });
      const seconds = (Date.now() - t0) / 1000;
      log(`import ${done.state} after ${seconds.toFixed(0)} s (${(summary.rows / seconds).toFixed(0)} rows/s, ${(summary.bytes / MiB / seconds).toFixed(1)} MiB/s)`);
      expect(done, `${stack.web.output()}\n${worker.output()}`).toMatchObject({
        state: 'done',
        rows: {
          read: summary.rows,
          staged: summary.expenses,
          skipped: summary.credits,
          failed: summary.errorLines.length,
          inserted: summary.expenses,
          duplicate: 0,
        },
      });
      expect(await categorySums(uid)).toEqual(summary.byCategory);
      const errors = await client.get(`/api/imports/${up.json.id}/errors`);
      expect(errors.text.trim().split('\n').slice(1).map((l) => Number(l.split(',')[0]))).toEqual(summary.errorLines);
      const webPeak = stack.web.sample();
      log(`peak RSS: web ${mib(webPeak)}, worker ${mib(worker.sample())}`);
      expect(webPeak).toBeLessThan(200 * MiB);
    } finally {
      clearInterval(sampler);
      await worker.stop();
      await rm(file, { force: true });
    }
  }, 3_600_000);

  /**
   * Holds staging of import `id` still: a SHARE lock on its staging table waits for the chunk in
   * progress to commit, then blocks the next chunk's COPY (ROW EXCLUSIVE), while the merger, which
   * only reads the staging table, goes on. The file needs at least three chunks (50 000 rows each),
   * or staging ends while the lock waits. Without it, whether a kill lands before staging ends
   * depends on how fast this machine stages compared to how fast it merges. Returns the release.
   */
  async function pauseStaging(id: string): Promise<() => Promise<void>> {
    const c = await stack.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(`LOCK TABLE ${stagingTable(id)} IN SHARE MODE`);
    } catch (err) {
      c.release(true);
      throw err;
    }
    return async () => {
      await c.query('ROLLBACK').finally(() => c.release());
    };
  }

  /**
   * Imports `file` while killing workers with SIGKILL when `kills` say so; returns the finished
   * import. A kill with `pauseStagingWhen` first holds staging still once that is true (see
   * `pauseStaging`), so `when` can wait for the merger while staging is unfinished.
   */
  async function importWithKills(
    client: Client,
    file: string,
    kills: { what: string; pauseStagingWhen?: (s: any) => boolean; when: (s: any) => boolean }[],
  ) {
    const up = await uploadFile(client, file, STATEMENT_QUERY);
    expect(up.status).toBe(202);
    const id = up.json.id;
    const state = async () =>
      (await stack.pool.query('SELECT phase, rows_staged::int, rows_merged::int, attempts, deferred_from_line FROM imports WHERE id = $1', [id])).rows[0];
    for (const kill of kills) {
      const w = await stack.startWorker();
      let release: (() => Promise<void>) | undefined;
      try {
        for (;;) {
          const s = await state();
          if (kill.pauseStagingWhen && !release && s.phase === 'staging' && kill.pauseStagingWhen(s)) {
            release = await pauseStaging(id);
            continue;
          }
          if (kill.when(s)) break;
          if (s.phase === 'finished') throw new Error(`the import finished before the worker could be killed ${kill.what}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        // Also when the kill could not happen: a worker left running would take the next test's import.
        w.child.kill('SIGKILL');
        await w.exited;
        await release?.();
      }
      const s = await state();
      log(`worker SIGKILLed ${kill.what}: phase ${s.phase}, staged ${s.rows_staged}, merged ${s.rows_merged}`);
    }
    const last = await stack.startWorker();
    try {
      const done = await followImport(client, id, { intervalMs: 1_000, onState: reporter('resumed import') });
      return { done, attempts: (await state()).attempts as number, deferredFrom: (await state()).deferred_from_line as string | null };
    } finally {
      await last.stop();
    }
  }

  it('workers SIGKILLed while staging and merging: the import resumes from its checkpoints with exact counts; re-import adds nothing', async () => {
    const { file, summary } = await writeStatement('kill.csv', 48 * MiB, { malformedEvery: 9_973, seed: 5 });
    const client = new Client(stack.baseUrl);
    const uid = await userId(client, 'kill@example.com');
    // Grouped by day: merging runs alongside staging; both kills land mid-way through both.
    const { done, attempts, deferredFrom } = await importWithKills(client, file, [
      { what: 'after the first merges', pauseStagingWhen: (s) => s.rows_staged > 0, when: (s) => s.phase === 'staging' && s.rows_merged > 0 },
      { what: 'after more merges', when: (s) => s.rows_merged > 120_000 },
    ]);
    expect(deferredFrom).toBeNull();
    expect(attempts).toBe(3);
    expect(done).toMatchObject({
      state: 'done',
      rows: { read: summary.rows, staged: summary.expenses, skipped: summary.credits, failed: summary.errorLines.length, inserted: summary.expenses, duplicate: 0 },
    });
    expect(await categorySums(uid)).toEqual(summary.byCategory);
    const lines = await stack.pool.query('SELECT line::int FROM import_errors WHERE import_id = $1 ORDER BY line', [done.id]);
    expect(lines.rows.map((r) => r.line)).toEqual(summary.errorLines);

    const w = await stack.startWorker();
    try {
      const again = await uploadFile(client, file, STATEMENT_QUERY);
      const second = await followImport(client, again.json.id, { intervalMs: 1_000 });
      expect(second.rows).toMatchObject({ staged: summary.expenses, inserted: 0, duplicate: summary.expenses });
    } finally {
      await w.stop();
    }
    expect((await stack.pool.query('SELECT count(*)::int AS n FROM expenses WHERE user_id = $1', [uid])).rows[0].n).toBe(summary.expenses);
    await rm(file, { force: true });
  }, 1_800_000);

  it('a file not grouped by day: a worker SIGKILLed while staging and one while merging after staging; exact counts', async () => {
    const { file, summary } = await writeStatement('kill-unsorted.csv', 32 * MiB, { seed: 9, dayOrder: 'interleaved' });
    const client = new Client(stack.baseUrl);
    const uid = await userId(client, 'kill-unsorted@example.com');
    const { done, attempts, deferredFrom } = await importWithKills(client, file, [
      { what: 'while staging', pauseStagingWhen: (s) => s.rows_staged > 0, when: (s) => s.phase === 'staging' && s.rows_staged > 0 },
      // Rows before the line staging deferred from are merged while staging: wait for the merging phase's own batches.
      { what: 'while merging', when: (s) => s.phase === 'merging' && s.rows_merged > s.rows_staged / 4 },
    ]);
    expect(Number(deferredFrom)).toBeGreaterThan(1);
    expect(attempts).toBe(3);
    expect(done.rows).toMatchObject({ read: summary.rows, staged: summary.expenses, skipped: summary.credits, inserted: summary.expenses, duplicate: 0 });
    expect(await categorySums(uid)).toEqual(summary.byCategory);
    await rm(file, { force: true });
  }, 1_800_000);
});
