/**
 * A bank statement import through every hop the `local` environment deploys, on a real node:
 * INGRESS_URL -> the Ingress controller (Ingress `expense-imports`: body size, no request
 * buffering, long timeouts) -> HAProxy (backend `imports`: body limit, long server timeout) ->
 * a web pod, which streams the upload into the staging claim -> the import worker Deployment,
 * which stages it in PostgreSQL and merges it into `expenses`.
 *
 * The statement (app/test/statement-generator.ts, IMPORT_CLUSTER_TEST_BYTES, default 200 MB) is
 * generated into a temp file and uploaded in one streamed request; the import's counts, the rows
 * in PostgreSQL and the per-category sums must equal the generator's, the malformed lines are
 * reported by number, and the worker (not the web pod) did the work. The 413 of the import path's
 * body limit is answered by HAProxy, before a web pod sees a byte. Re-imports, resuming after a
 * killed worker and the 1 GiB file are the integration tier's (app/test/imports-large.test.ts):
 * this file is about the path, and costs its cluster's start plus about a minute.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMPORT_WORKER } from '@expense-tracker/model/components';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { toBytes } from '@expense-tracker/model/quantities';
import { startCluster, stopCluster, type TestCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import { appImageReferences, ensureClusterImages } from '@expense-tracker/testkit/test-cluster/node/images';
import { generateStatement, STATEMENT_QUERY, type StatementSummary } from '../../app/test/statement-generator.js';
import { IngressSession, type IngressAnswer } from './ingress.js';
import { deployEnvironment, hostLimitSets, secretsYaml, singleNodeSets, synth, waitForWorkloads } from './support.js';

const ENV = 'local';
const config = loadEnvironment(ENV);
const NAMESPACE = config.namespace;
const HOST = config.ingress.host;
const BYTES = Number(process.env.IMPORT_CLUSTER_TEST_BYTES ?? 200_000_000);
const MB = 1_000_000;
const progress = (m: string) => process.stderr.write(`[imports-cluster ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

/** `POST /api/imports` of `file` in one streamed request. */
function upload(session: IngressSession, file: string): Promise<IngressAnswer> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(STATEMENT_QUERY)) for (const x of typeof v === 'string' ? [v] : v) q.append(k, x);
  return session.send('POST', `/api/imports?${q}`, { headers: { 'content-type': 'text/csv' }, body: { file } });
}

/** Polls `GET /api/imports/:id` until the import is done or failed. */
async function follow(session: IngressSession, id: string, timeoutMs: number): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await session.send('GET', `/api/imports/${id}`);
    if (r.status !== 200) throw new Error(`GET /api/imports/${id}: ${r.status} ${r.text.slice(0, 300)}`);
    const imp = r.json;
    const line = `${imp.state}/${imp.phase} staged ${imp.rows.staged} merged ${imp.rows.merged}`;
    if (line !== last) progress(`import ${line}`);
    last = line;
    if (imp.state === 'done' || imp.state === 'failed') return imp;
    if (Date.now() > deadline) throw new Error(`import ${id} still ${line} after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 2_000));
  }
}

describe(`dist/${ENV} on a real node: a ${(BYTES / MB).toFixed(0)} MB bank statement import through Ingress, HAProxy, web, staging and worker`, () => {
  let cluster: TestCluster;
  let work: string;
  let file: string;
  let summary: StatementSummary;
  const onExit = () => {
    if (cluster) for (const p of cluster.processes) try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  const psql = async (sql: string) =>
    (await cluster.kubectl.run(['exec', '-n', NAMESPACE, 'postgres-0', '-c', 'postgres', '--', 'psql', '-X', '-At', '-U', config.postgres.username, '-d', config.postgres.database, '-c', sql])).stdout.trim();

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'expense-tracker-cluster-imports-'));
    process.on('exit', onExit);
    // The statement is written while the cluster starts.
    file = join(work, 'statement.csv');
    const generated = (async () => {
      const { stream, summary: done } = generateStatement({ targetBytes: BYTES, rowsPerDay: 2000, malformedEvery: 99_991 });
      await pipeline(stream, createWriteStream(file));
      summary = await done;
      progress(`generated ${(summary.bytes / MB).toFixed(0)} MB: ${summary.rows} rows (${summary.expenses} expenses, ${summary.credits} credits, ${summary.errorLines.length} malformed)`);
    })();
    await ensureClusterImages({ progress, appImages: appImageReferences() });
    cluster = await startCluster({ dir: join(work, 'cluster'), ingressNamespace: config.ingressControllerNamespace, progress });
    const { dir, objects } = await synth(ENV, join(work, 'dist'), [...hostLimitSets(config), ...singleNodeSets(config)]);
    expect(await deployEnvironment(cluster.kubectl, dir, await secretsYaml(ENV))).toEqual([]);
    await waitForWorkloads(cluster.kubectl, NAMESPACE, objects);
    await generated;
  });

  afterAll(async () => {
    process.off('exit', onExit);
    if (work) {
      await stopCluster(join(work, 'cluster'));
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('imports every row with exact counts and sums, and the worker Deployment did it', async () => {
    const session = new IngressSession(cluster.ingressUrl!, HOST);
    // HAProxy discovers web pods through DNS a little after they are Ready.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const r = await session.send('GET', '/login').catch((err: Error) => ({ status: 0, text: err.message }));
      if (r.status === 200) break;
      if (Date.now() > deadline) throw new Error(`the app never answered through the Ingress: ${r.status} ${r.text.slice(0, 300)}`);
      await new Promise((res) => setTimeout(res, 1_000));
    }
    await session.signUp('statement@example.com', 'a long cluster import password');

    const t0 = Date.now();
    const up = await upload(session, file);
    const uploadS = (Date.now() - t0) / 1000;
    expect(up.status, up.text.slice(0, 500)).toBe(202);
    // A worker LISTENing for imports_queued may have claimed it before the answer left the web pod.
    expect(['queued', 'processing']).toContain(up.json.state);
    progress(`upload of ${(summary.bytes / MB).toFixed(0)} MB stored in ${uploadS.toFixed(1)} s (${(summary.bytes / MB / uploadS).toFixed(1)} MB/s)`);

    const done = await follow(session, up.json.id, 1_200_000);
    const totalS = (Date.now() - t0) / 1000;
    progress(`import ${done.state} after ${totalS.toFixed(0)} s (${(summary.rows / totalS).toFixed(0)} rows/s, ${(summary.bytes / MB / totalS).toFixed(1)} MB/s)`);
    expect(done).toMatchObject({
      state: 'done',
      rows: {
        read: summary.rows,
        staged: summary.expenses,
        skipped: summary.credits,
        failed: summary.errorLines.length,
        merged: summary.expenses,
        inserted: summary.expenses,
        duplicate: 0,
      },
    });
    // What PostgreSQL holds, not only what the API says.
    expect(Number(await psql(`SELECT count(*) FROM expenses WHERE import_id = '${done.id}'`))).toBe(summary.expenses);
    const sums = await psql(`SELECT category || '=' || count(*) || '/' || sum(amount_cents) FROM expenses WHERE import_id = '${done.id}' GROUP BY category ORDER BY category`);
    const expected = Object.entries(summary.byCategory).sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, s]) => `${c}=${s.count}/${s.cents}`);
    expect(sums.split('\n')).toEqual(expected);
    const errors = await session.send('GET', `/api/imports/${done.id}/errors`);
    expect(errors.text.trim().split('\n').slice(1).map((l) => Number(l.split(',')[0]))).toEqual(summary.errorLines);

    // The worker Deployment processed it (web pods only receive uploads above the inline limit).
    const logs = await cluster.kubectl.run(['logs', '-n', NAMESPACE, `deployment/${IMPORT_WORKER.name}`, '--tail=-1']);
    expect(logs.stdout.split('\n').some((l) => l.includes(done.id) && l.includes('import done'))).toBe(true);
    expect(Number(await psql('SELECT count(*) FROM expenses'))).toBe(summary.expenses);
  }, 1_800_000);

  it('a body above imports.maxBytes is refused with 413 from its Content-Length, by HAProxy rather than a web pod', async () => {
    const session = new IngressSession(cluster.ingressUrl!, HOST);
    const tooLarge = toBytes(config.imports.maxBytes) + 1;
    // Only the headers are sent: the answer must come before any of the declared body.
    const r = await session.send('POST', '/api/imports?name=x.csv', { headers: { 'content-type': 'text/csv', 'content-length': String(tooLarge) } });
    expect(r.status, r.text.slice(0, 300)).toBe(413);
    // The app answers its errors in JSON; this is HAProxy's own error page.
    expect(r.json).toBeUndefined();
    expect(r.text).toContain('413');
  }, 60_000);
});
