/**
 * Unit-test setup: each test file gets its own TMPDIR, removed after the file. cdk8s's
 * `Testing.app()`/`Testing.chart()` create a `cdk8s.outdir.*` directory in `os.tmpdir()` per call
 * and never remove it; without this every unit run would leave a hundred of them behind.
 * Commands that load this file but run no hooks (`vitest list`) remove the directory when the
 * worker exits; a worker killed first (vitest ends idle workers with SIGTERM) leaves it, so each
 * setup also removes the directories of worker PIDs that no longer run.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { processAlive } from '@expense-tracker/tools/process/supervise';

const PREFIX = 'expense-tracker-unit-';
const OWNER_PID = new RegExp(`^${PREFIX}(\\d+)-`);

const previous = process.env.TMPDIR;
const base = tmpdir();
for (const name of readdirSync(base)) {
  const pid = OWNER_PID.exec(name)?.[1];
  if (pid !== undefined && !processAlive(Number(pid))) rmSync(join(base, name), { recursive: true, force: true });
}
const scoped = mkdtempSync(join(base, `${PREFIX}${process.pid}-`));
process.env.TMPDIR = scoped;

function removeScoped(): void {
  rmSync(scoped, { recursive: true, force: true });
}
process.once('exit', removeScoped);

afterAll(() => {
  if (previous === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = previous;
  removeScoped();
  process.removeListener('exit', removeScoped);
});
