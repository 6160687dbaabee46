/**
 * The import worker: claims queued imports one at a time and processes them (see `process.ts`).
 * Runs as its own Deployment (`node dist/imports/worker.js`), scaled by replicas; any number of
 * workers share the queue through leases (`FOR UPDATE SKIP LOCKED` claims), and a worker that dies
 * leaves a lease that expires, after which another worker resumes the import from its checkpoints.
 *
 * Wake-ups: `LISTEN imports_queued` (the upload notifies), plus a poll every `pollIntervalMs` that
 * also finds imports whose worker died. A janitor pass every `janitorIntervalMs` fails uploads
 * whose uploader died, removes staged files and staging tables of finished imports (failed ones
 * after the retention period), and files nobody owns.
 *
 * Process: SIGTERM stops claiming, brings the current import to its next checkpoint, gives it back
 * to the queue and exits 0 (the chart's grace period covers a checkpoint). `GET /healthz` (the loop
 * is alive), `GET /readyz` (PostgreSQL answers) and `GET /metrics` on IMPORT_WORKER_PORT.
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import client from 'prom-client';
import type { Logger } from 'pino';
import { claimNext, defaultOwner, failAbandonedUploads, failImport, IMPORTS_CHANNEL } from './repo.js';
import { processImport, type Outcome, type ProcessorOptions } from './process.js';
import { FileStagingStore } from './store.js';

export interface WorkerOptions extends Omit<ProcessorOptions, 'owner' | 'signal' | 'onProgress'> {
  /** PostgreSQL settings for the LISTEN connection (the pool's). */
  listen: pg.ClientConfig;
  /** Lease owner name (default `<hostname>:<pid>:<random>`). */
  owner?: string;
  /** Milliseconds between polls when nothing was notified (default 5 000). */
  pollIntervalMs?: number;
  /** Milliseconds between janitor passes (default 60 000). */
  janitorIntervalMs?: number;
  /** Hours a failed import keeps its staged file and staging table (default 168). */
  failedRetentionHours?: number;
  /** Attempts before an import that keeps failing is given up (default 5). */
  maxAttempts?: number;
  registry?: client.Registry;
}

export class ImportWorker {
  readonly owner: string;
  /** Milliseconds since the epoch of the last sign of life of the loop. */
  heartbeat = Date.now();
  private stopping = false;
  private readonly stopSignal = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private listener: pg.Client | undefined;
  private janitorTimer: NodeJS.Timeout | undefined;
  private readonly metrics;

  constructor(private readonly opts: WorkerOptions) {
    this.owner = opts.owner ?? defaultOwner();
    const registers = opts.registry ? [opts.registry] : [];
    this.metrics = {
      imports: new client.Counter({ name: 'imports_processed_total', help: 'Import processing runs by outcome (done, failed, released, lost)', labelNames: ['outcome'] as const, registers }),
      rows: new client.Counter({ name: 'import_rows_total', help: 'Rows of finished imports by result (inserted, duplicate, skipped, failed)', labelNames: ['result'] as const, registers }),
      bytes: new client.Counter({ name: 'import_staged_bytes_total', help: 'Bytes of CSV read into staging tables', registers }),
      duration: new client.Histogram({
        name: 'import_run_duration_seconds',
        help: 'Duration of one processing run of an import, seconds',
        buckets: [1, 5, 15, 60, 300, 900, 3600, 14400],
        registers,
      }),
      queue: new client.Gauge({
        name: 'imports_queued',
        help: 'Imports waiting for a worker',
        registers,
        collect: async () => {
          const r = await this.opts.pool.query(`SELECT count(*)::int AS n FROM imports WHERE state = 'queued'`).catch(() => null);
          if (r) this.metrics.queue.set(r.rows[0].n);
        },
      }),
    };
  }

  /** Starts listening, the loop and the janitor. */
  start(): void {
    this.loop = this.run();
    void this.connectListener();
    const every = this.opts.janitorIntervalMs ?? 60_000;
    this.janitorTimer = setInterval(() => void this.janitor().catch((err) => this.opts.log.warn({ err: err.message }, 'import janitor pass failed')), every);
    this.janitorTimer.unref();
    void this.janitor().catch(() => undefined);
  }

  /** Stops claiming, pauses the current import at its next checkpoint (back to the queue), closes the listener. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    this.wake?.();
    clearInterval(this.janitorTimer);
    await this.loop;
    await this.listener?.end().catch(() => undefined);
  }

  private async connectListener(): Promise<void> {
    while (!this.stopping) {
      const c = new pg.Client({ ...this.opts.listen, application_name: 'expense-import-listen' });
      try {
        await c.connect();
        c.on('notification', () => this.wake?.());
        const closed = new Promise<void>((resolve) => {
          c.on('error', () => resolve());
          c.on('end', () => resolve());
        });
        await c.query(`LISTEN ${IMPORTS_CHANNEL}`);
        this.listener = c;
        this.wake?.(); // something may have been queued while not listening
        await closed;
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, 'import LISTEN connection failed; polling meanwhile');
      }
      await c.end().catch(() => undefined);
      if (!this.stopping) await new Promise((r) => setTimeout(r, 2_000).unref());
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    const poll = this.opts.pollIntervalMs ?? 5_000;
    while (!this.stopping) {
      this.heartbeat = Date.now();
      let worked = false;
      try {
        worked = (await this.runOnce()) !== false;
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, 'import claim failed');
      }
      if (!worked && !this.stopping) await this.sleep(poll);
    }
  }

  /** Claims and processes one import. Returns false when none was runnable. */
  async runOnce(): Promise<Outcome | false> {
    const leaseSeconds = this.opts.leaseSeconds ?? 60;
    const imp = await claimNext(this.opts.pool, this.owner, leaseSeconds);
    if (!imp) return false;
    const maxAttempts = this.opts.maxAttempts ?? 5;
    if (imp.attempts > maxAttempts) {
      await failImport(this.opts.pool, imp.id, `gave up after ${maxAttempts} attempts; last error: ${imp.error ?? 'the worker stopped'}`, this.owner);
      this.metrics.imports.inc({ outcome: 'failed' });
      return 'failed';
    }
    const t0 = process.hrtime.bigint();
    const startBytes = imp.stagedBytes;
    let lastBytes = startBytes;
    const outcome = await processImport(
      {
        ...this.opts,
        owner: this.owner,
        signal: this.stopSignal.signal,
        onProgress: (p) => {
          this.heartbeat = Date.now();
          lastBytes = p.stagedBytes;
        },
        onImported: this.opts.onImported,
      },
      imp,
    );
    this.metrics.duration.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    this.metrics.imports.inc({ outcome });
    this.metrics.bytes.inc(Math.max(0, lastBytes - startBytes));
    if (outcome === 'done') {
      const r = await this.opts.pool.query(
        'SELECT rows_inserted::float8 AS i, rows_duplicate::float8 AS d, rows_skipped::float8 AS s, rows_failed::float8 AS f FROM imports WHERE id = $1',
        [imp.id],
      );
      const row = r.rows[0];
      if (row) {
        this.metrics.rows.inc({ result: 'inserted' }, row.i);
        this.metrics.rows.inc({ result: 'duplicate' }, row.d);
        this.metrics.rows.inc({ result: 'skipped' }, row.s);
        this.metrics.rows.inc({ result: 'failed' }, row.f);
      }
    }
    return outcome;
  }

  /** One janitor pass (see the module comment). */
  async janitor(): Promise<void> {
    const { pool, store, log } = this.opts;
    for (const id of await failAbandonedUploads(pool)) {
      log.warn({ importId: id }, 'upload abandoned by its uploader; marked failed');
    }
    const retention = this.opts.failedRetentionHours ?? 168;
    const files = await store.list();
    const tables = (await pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'import_staging'`)).rows.map((r) =>
      (r.tablename as string).replace(/^i_(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
    );
    const ids = [...new Set([...files.map((f) => f.id), ...tables])];
    if (ids.length === 0) return;
    // Keep what an unfinished import needs, and a failed one's file and table for the retention period.
    const keep = new Set(
      (
        await pool.query(
          `SELECT id::text FROM imports WHERE id = ANY($1::uuid[])
              AND (state IN ('receiving', 'queued', 'processing')
                   OR (state = 'failed' AND finished_at > now() - make_interval(hours => $2)))`,
          [ids, retention],
        )
      ).rows.map((r) => r.id),
    );
    for (const f of files) {
      if (keep.has(f.id)) continue;
      // A file younger than a minute may belong to an upload whose row is still being written.
      if (Date.now() - f.modifiedAt.getTime() < 60_000) continue;
      await store.remove(f.id);
      log.info({ importId: f.id, bytes: f.sizeBytes }, 'removed staged file of a finished or unknown import');
    }
    for (const id of tables) {
      if (keep.has(id)) continue;
      await pool.query(`DROP TABLE IF EXISTS import_staging."i_${id.replace(/-/g, '')}"`);
      log.info({ importId: id }, 'dropped staging table of a finished or unknown import');
    }
  }
}

/** Process entry point: `node dist/imports/worker.js`. */
async function main(): Promise<void> {
  const { loadConfig, ConfigError } = await import('../config.js');
  const { createLogger } = await import('../logger.js');
  const { createPool } = await import('../db.js');
  const { createRedis, connectRedis } = await import('../redis.js');
  const { createSendgridMailer } = await import('../mailer.js');
  const { createMetrics } = await import('../metrics.js');
  const { SummaryCache } = await import('../cache.js');
  const { BudgetAlerts } = await import('../alerts.js');
  const { Outbox } = await import('../outbox.js');

  let config;
  try {
    config = loadConfig();
    if (!config.imports.stagingDir) throw new ConfigError(['IMPORT_STAGING_DIR: is required by the import worker']);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`expense-import-worker: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const importConfig = config.imports;
  const log = createLogger(config.logLevel).child({ component: 'import-worker' });
  const store = new FileStagingStore(importConfig.stagingDir!);
  await store.init();
  const pool = createPool(config.postgres, { max: 4, statementTimeoutMs: 0 });
  pool.on('error', (err) => log.warn({ err: err.message }, 'idle postgres client error'));
  const redis = createRedis(config.redis, log);
  await connectRedis(redis, log);
  const appMetrics = createMetrics(pool);
  const cache = new SummaryCache(redis, appMetrics);
  const outbox = new Outbox(pool, createSendgridMailer(config.sendgrid, config.mailFrom), log.child({ component: 'outbox' }), appMetrics, config.publicBaseUrl);
  const alerts = new BudgetAlerts(pool, outbox, log.child({ component: 'alerts' }));
  const worker = new ImportWorker({
    pool,
    store,
    log,
    listen: config.postgres,
    leaseSeconds: importConfig.leaseSeconds,
    failedRetentionHours: importConfig.failedRetentionHours,
    registry: appMetrics.registry,
    onImported: async (userId, months) => {
      await cache.invalidate(userId, months);
      // Budget alerts are about the running month (and the one just ended), not history:
      // check() keeps only the months that may alert in the user's time zone.
      await alerts.check(userId, months);
    },
  });
  worker.start();
  log.info({ owner: worker.owner, stagingDir: importConfig.stagingDir }, 'import worker started');

  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.url === '/healthz') {
        const ok = Date.now() - worker.heartbeat < 180_000;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'stalled' }));
      } else if (req.url === '/readyz') {
        const ok = await pool.query('SELECT 1').then(
          () => true,
          () => false,
        );
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ready' : 'not_ready' }));
      } else if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': appMetrics.registry.contentType }).end(await appMetrics.registry.metrics());
      } else {
        res.writeHead(404).end();
      }
    })();
  });
  server.listen(importConfig.workerPort, '0.0.0.0');

  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'import worker stopping: pausing the current import at its next checkpoint');
      const force = setTimeout(() => process.exit(1), 50_000);
      force.unref();
      void (async () => {
        await worker.stop();
        server.close();
        await outbox.stop();
        await pool.end();
        await redis.quit().catch(() => redis.disconnect());
        log.info('import worker stopped');
        process.exit(0);
      })();
    });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`expense-import-worker: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
