/**
 * `npm run bench:import [-- --sizes 100,1024] [--runs 1]`
 *
 * CSV import throughput against its floor, on PostgreSQL 15 and Redis 7 started on loopback:
 *
 * - ours: a generated bank statement of each size (MiB; app/test/statement-generator.ts: 11
 *   columns, `;`, decimal comma, quoted fields, BOM) uploaded to the web server in one streamed
 *   request, stored in the staging area and imported by one worker (both compiled, as in the
 *   image, each its own process): upload, staging (parse, normalize, COPY) and merge (fingerprints,
 *   batched INSERT ... ON CONFLICT) until the import is done;
 * - the floor: `psql \copy` of the very same normalized rows (exported from `expenses` after our
 *   run) into the same, emptied `expenses` table, with its indexes: what loading these rows costs
 *   with no parsing, normalization or de-duplication at all.
 *
 * Prints per size: rows, MiB, seconds, rows/s and MiB/s of both, the ratio ours/floor (goal
 * >= 0.5), the split of our time (upload / staging / merge), and the peak RSS of the web and
 * worker processes (`VmHWM`), sampled during the run (goal: flat, i.e. not growing with the size).
 * Exit 1 when the throughput goal is missed. Figures are relative: both sides run back to back in
 * one script on the same machine and database.
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs, promisify } from 'node:util';
import { Client } from '../app/test/harness.js';
import { ensureAppBuild, followImport, mib, startImportStack, uploadFile } from '../app/test/import-stack.js';
import { generateStatement, STATEMENT_QUERY } from '../app/test/statement-generator.js';
import { loadAverage, summarize } from './lib/measure.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const GOAL = 0.5;
const USAGE = 'usage: npm run bench:import -- [--sizes 100,1024] [--runs <1-10>]';

interface Result {
  sizeMiB: number;
  rows: number;
  bytes: number;
  oursS: number;
  uploadS: number;
  stagingS: number;
  mergeS: number;
  floorS: number;
  webRss: number;
  workerRss: number;
}

function parse(argv: string[]): { sizes: number[]; runs: number } {
  const { values } = parseArgs({ args: argv, options: { sizes: { type: 'string', default: '100,1024' }, runs: { type: 'string', default: '1' } } });
  const sizes = values.sizes!.split(',').map((s) => Number(s.trim()));
  if (sizes.some((s) => !Number.isInteger(s) || s < 1 || s > 20_480)) throw new Error(`--sizes must be MiB from 1 to 20480, got "${values.sizes}"`);
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 10) throw new Error(`--runs must be an integer from 1 to 10, got "${values.runs}"`);
  return { sizes, runs };
}

const log = (msg: string) => process.stderr.write(`[bench:import] ${msg}\n`);

async function main(): Promise<number> {
  let args;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  console.log(`bench:import  sizes ${args.sizes.join(', ')} MiB  runs ${args.runs}  load ${loadAverage()}`);
  await ensureAppBuild(log);
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-import-'));
  const stack = await startImportStack({ compiled: true, env: { IMPORT_MAX_BYTES: '32Gi', IMPORT_USER_DAILY_BYTES: '1Ti' } });
  const results: Result[] = [];
  try {
    const client = new Client(stack.baseUrl);
    await client.signUp('bench@example.com');
    const psql = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', stack.pg.host, '-p', String(stack.pg.port), '-U', 'postgres', '-d', 'expenses'];
    for (const size of args.sizes) {
      const file = path.join(dir, `statement-${size}.csv`);
      const { stream, summary } = generateStatement({ targetBytes: size * MiB, rowsPerDay: 2000 });
      await pipeline(stream, createWriteStream(file));
      const s = await summary;
      log(`${size} MiB: ${s.rows} rows generated`);
      for (let r = 0; r < args.runs; r++) {
        await stack.pool.query('TRUNCATE expenses, imports CASCADE');
        await stack.pool.query('CHECKPOINT');
        const worker = await stack.startWorker();
        const sampler = setInterval(() => {
          stack.web.sample();
          worker.sample();
        }, 250);
        let stagedAt = 0;
        const t0 = performance.now();
        const up = await uploadFile(client, file, STATEMENT_QUERY);
        if (up.status !== 202) throw new Error(`upload: ${up.status} ${JSON.stringify(up.json)}`);
        const uploaded = performance.now();
        const done = await followImport(client, up.json.id, {
          intervalMs: 250,
          onState: (imp) => {
            if (!stagedAt && imp.phase !== 'staging') stagedAt = performance.now();
          },
        });
        const t1 = performance.now();
        clearInterval(sampler);
        if (done.state !== 'done' || done.rows.inserted !== s.expenses) throw new Error(`import ended ${done.state}: ${JSON.stringify(done.rows)} ${done.error ?? ''}`);
        const webRss = stack.web.sample();
        const workerRss = worker.sample();
        await worker.stop();

        // The floor: the same normalized rows, loaded by psql \copy into the same (emptied) table.
        const rowsFile = path.join(dir, 'normalized.copy');
        await run('psql', [...psql, '-c', `\\copy (SELECT user_id, amount_cents, currency, category, description, spent_on, import_id, fingerprint FROM expenses) TO '${rowsFile}'`]);
        await stack.pool.query('TRUNCATE expenses');
        await stack.pool.query('CHECKPOINT');
        const f0 = performance.now();
        await run('psql', [...psql, '-c', `\\copy expenses (user_id, amount_cents, currency, category, description, spent_on, import_id, fingerprint) FROM '${rowsFile}'`]);
        const floorS = (performance.now() - f0) / 1000;
        await rm(rowsFile, { force: true });
        const result: Result = {
          sizeMiB: size,
          rows: s.expenses,
          bytes: s.bytes,
          oursS: (t1 - t0) / 1000,
          uploadS: (uploaded - t0) / 1000,
          stagingS: ((stagedAt || t1) - uploaded) / 1000,
          mergeS: (t1 - (stagedAt || t1)) / 1000,
          floorS,
          webRss,
          workerRss,
        };
        results.push(result);
        log(`${size} MiB run ${r + 1}: ours ${result.oursS.toFixed(1)} s, floor ${floorS.toFixed(1)} s, ratio ${(floorS / result.oursS).toFixed(2)}`);
      }
      await rm(file, { force: true });
    }
  } finally {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }

  console.log('');
  console.log('size      rows        ours: s    rows/s   MiB/s   floor (\\copy): s   rows/s    ours/floor   upload/staging/merge s   peak RSS web / worker');
  let ok = true;
  for (const size of args.sizes) {
    const rs = results.filter((r) => r.sizeMiB === size);
    const ours = summarize(rs.map((r) => r.oursS)).median;
    const floor = summarize(rs.map((r) => r.floorS)).median;
    const r0 = rs[0]!;
    const ratio = floor / ours;
    if (ratio < GOAL) ok = false;
    const med = (f: (r: Result) => number) => summarize(rs.map(f)).median.toFixed(1);
    console.log(
      `${String(size).padStart(5)} MiB ${String(r0.rows).padStart(9)}   ${ours.toFixed(1).padStart(8)} ${(r0.rows / ours).toFixed(0).padStart(9)} ${(r0.bytes / MiB / ours).toFixed(1).padStart(7)}   ${floor.toFixed(1).padStart(15)} ${(r0.rows / floor).toFixed(0).padStart(9)}   ${ratio.toFixed(2).padStart(10)}   ${`${med((r) => r.uploadS)} / ${med((r) => r.stagingS)} / ${med((r) => r.mergeS)}`.padStart(22)}   ${mib(Math.max(...rs.map((r) => r.webRss)))} / ${mib(Math.max(...rs.map((r) => r.workerRss)))}`,
    );
  }
  console.log(`goal: ours/floor >= ${GOAL} (rows/s of ours over \\copy's) ${ok ? 'met' : 'NOT met'}; load ${loadAverage()}`);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench:import: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
