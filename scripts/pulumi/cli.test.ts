/**
 * `npm run preview|up|destroy` argument handling and the "Pulumi CLI not found" path
 * (no Pulumi CLI on PATH, an empty tool cache).
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const emptyCache = mkdtempSync(join(tmpdir(), 'pulumi-cli-test-'));
afterAll(() => rmSync(emptyCache, { recursive: true, force: true }));

async function run(args: string[], env: Record<string, string> = {}) {
  const nodeDir = join(process.execPath, '..');
  return execa(process.execPath, ['--import', 'tsx', 'scripts/pulumi.ts', ...args], {
    cwd: root,
    reject: false,
    extendEnv: false,
    env: { PATH: `${nodeDir}:/usr/bin:/bin`, HOME: emptyCache, EXPENSE_TRACKER_CACHE: emptyCache, ...env },
  });
}

describe('scripts/pulumi.ts', () => {
  it('prints a clear "Pulumi CLI not found" message, without a stack trace, when there is no CLI', async () => {
    const result = await run(['preview', '--stack', 'local']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('Pulumi CLI not found');
    expect(result.stderr).toContain('npm run pulumi-tools');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  }, 180_000);

  it('rejects bad usage with exit status 2 and names the problem', async () => {
    // Three independent CLI starts, run side by side: each one pays tsx's start-up, which a busy
    // machine stretches to tens of seconds.
    const [noStack, badOp, badFlag] = await Promise.all([run(['up']), run(['apply', '--stack', 'ci']), run(['up', '--stack', 'ci', '--yes'])]);
    expect(noStack.exitCode).toBe(2);
    expect(noStack.stderr).toContain('--stack is required');
    expect(badOp.exitCode).toBe(2);
    expect(badOp.stderr).toContain('unknown operation "apply"');
    expect(badFlag.exitCode).toBe(2);
    expect(badFlag.stderr).toMatch(/Unknown option '--yes'/);
  }, 180_000);

  it('rejects a stack without a settings file', async () => {
    const result = await run(['preview', '--stack', 'staging'], { PULUMI_CLI: '/bin/true' });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/--stack staging: no Pulumi\.staging\.yaml in .* \(it sets expense-tracker:target and expense-tracker:environment\)/);
  }, 180_000);
});
