/**
 * Operator commands for imports (`node dist/imports/cli.js <command>`, e.g. through
 * `kubectl exec deploy/expense-import-worker -- node dist/imports/cli.js list failed`):
 *
 *   list [state...]      imports in these states (default: unfinished and failed), oldest first
 *   show <id>            one import: state, progress, error, staged file, staging table
 *   retry <id>           puts a failed import back in the queue; it resumes from its checkpoints
 *                        (or starts over, if it failed for good), so its staged file must exist
 *   fail <id> [reason]   stops an unfinished import for good (a worker holding it stops at its
 *                        next checkpoint) and takes back the rows it merged
 *   files                the staging area: every file with its size and its import's state
 *
 * Reads the app's environment (the worker pod's). Exit codes: 0 ok, 2 bad usage or configuration,
 * 1 runtime failure or an import not in a state that allows the command.
 */
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig } from '../config.js';
import { createPool } from '../db.js';
import { isUuid } from '../repo.js';
import { getImportById, listByState, retryImport, stagingTable, type ImportRecord, type ImportState } from './repo.js';
import { FileStagingStore } from './store.js';

const USAGE = 'usage: imports/cli.js list [state...] | show <id> | retry <id> | fail <id> [reason] | files';
const STATES: ImportState[] = ['receiving', 'queued', 'processing', 'done', 'failed'];

function line(i: ImportRecord): string {
  const rows = `read ${i.rowsRead}, staged ${i.rowsStaged}, merged ${i.rowsMerged}, inserted ${i.rowsInserted}, duplicate ${i.rowsDuplicate}, failed ${i.rowsFailed}`;
  return `${i.id}  ${i.state.padEnd(10)} ${i.phase.padEnd(8)} ${i.createdAt.toISOString()}  ${i.sizeBytes} bytes  ${rows}${i.error ? `  error: ${i.error}` : ''}`;
}

export async function runImportsCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  out: { write(s: string): unknown } = process.stdout,
  err: { write(s: string): unknown } = process.stderr,
): Promise<number> {
  const [command, ...rest] = argv;
  let config;
  try {
    if (!['list', 'show', 'retry', 'fail', 'files'].includes(command ?? '')) throw new Error(USAGE);
    if (['show', 'retry', 'fail'].includes(command!) && !isUuid(rest[0] ?? '')) throw new Error(`${command}: <id> must be an import id (a UUID)\n${USAGE}`);
    if (command === 'list' && rest.some((s) => !STATES.includes(s as ImportState))) throw new Error(`list: states are ${STATES.join(', ')}`);
    config = loadConfig(env);
  } catch (e) {
    err.write(`${e instanceof ConfigError ? e.message : (e as Error).message}\n`);
    return 2;
  }
  const pool = createPool(config.postgres, { max: 2 });
  const store = config.imports.stagingDir ? new FileStagingStore(config.imports.stagingDir) : null;
  try {
    if (command === 'list') {
      const states = rest.length ? (rest as ImportState[]) : (['receiving', 'queued', 'processing', 'failed'] as ImportState[]);
      for (const i of await listByState(pool, states, 1000)) out.write(`${line(i)}\n`);
      return 0;
    }
    if (command === 'files') {
      if (!store) throw new Error('IMPORT_STAGING_DIR is not set');
      const files = await store.list();
      const states = new Map<string, string>();
      for (const f of files) states.set(f.id, (await getImportById(pool, f.id))?.state ?? 'unknown (removed by the janitor)');
      for (const f of files) out.write(`${f.id}${f.partial ? '.part' : ''}  ${f.sizeBytes} bytes  ${f.modifiedAt.toISOString()}  ${states.get(f.id)}\n`);
      out.write(`free on the staging volume: ${await store.freeBytes()} bytes\n`);
      return 0;
    }
    const id = rest[0]!;
    const imp = await getImportById(pool, id);
    if (!imp) {
      err.write(`no import ${id}\n`);
      return 1;
    }
    if (command === 'show') {
      out.write(`${line(imp)}\n`);
      out.write(`file: ${store && (await store.exists(id)) ? `staged (${store.dir}/${id}.csv)` : 'not staged'}\n`);
      const t = await pool.query('SELECT to_regclass($1) IS NOT NULL AS present', [stagingTable(id)]);
      out.write(`staging table ${stagingTable(id)}: ${t.rows[0].present ? 'present' : 'absent'}\n`);
      out.write(`options: ${JSON.stringify(imp.options)}\n`);
      return 0;
    }
    if (command === 'retry') {
      if (imp.state !== 'failed') {
        err.write(`import ${id} is ${imp.state}, not failed\n`);
        return 1;
      }
      if (!store || !(await store.exists(id))) {
        err.write(`the file of import ${id} is no longer staged; the user must upload it again\n`);
        return 1;
      }
      await retryImport(pool, id);
      out.write(`import ${id} is queued again\n`);
      return 0;
    }
    // fail: take the lease, so a worker holding it stops writing at its next checkpoint.
    if (imp.state === 'done' || imp.state === 'failed') {
      err.write(`import ${id} is already ${imp.state}\n`);
      return 1;
    }
    const reason = rest.slice(1).join(' ') || 'stopped by an operator';
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `UPDATE imports SET state = 'failed', error = $2, lease_owner = NULL, lease_expires_at = NULL, finished_at = now(), updated_at = now(),
                phase = 'staging', staged_bytes = 0, staged_lines = 0, rows_staged = 0, merged_line = 0, merged_through = NULL,
                deferred_from_line = NULL, rows_merged = 0, rows_inserted = 0, rows_duplicate = 0
          WHERE id = $1`,
        [id, reason],
      );
      const removed = await client.query('DELETE FROM expenses WHERE user_id = $1 AND import_id = $2', [imp.userId, id]);
      await client.query(`DROP TABLE IF EXISTS ${stagingTable(id)}`);
      await client.query('COMMIT');
      out.write(`import ${id} failed (${reason}); ${removed.rowCount} expenses it had added were removed\n`);
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
    return 0;
  } finally {
    await pool.end();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runImportsCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`imports/cli: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
