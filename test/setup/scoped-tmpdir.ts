/**
 * Unit-test setup: each test file gets its own TMPDIR, removed after the file. cdk8s's
 * `Testing.app()`/`Testing.chart()` create a `cdk8s.outdir.*` directory in `os.tmpdir()` per call
 * and never remove it; without this every unit run would leave a hundred of them behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const previous = process.env.TMPDIR;
const scoped = mkdtempSync(join(tmpdir(), 'expense-tracker-unit-'));
process.env.TMPDIR = scoped;

afterAll(() => {
  if (previous === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = previous;
  rmSync(scoped, { recursive: true, force: true });
});
