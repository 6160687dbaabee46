import { describe, expect, it } from 'vitest';
import { memoryIO } from '../lib/command-io.js';
import { dbCommand, parseDbArgs, runBackupJob } from './cli.js';

describe('npm run db', () => {
  it('parses restore with a zoned target time', () => {
    expect(parseDbArgs(['restore', '--env', 'ibm', '--to', '2026-11-30 04:47:27.5+00', '--yes'])).toMatchObject({ command: 'restore', env: 'ibm', to: '2026-11-30 04:47:27.5+00', yes: true });
    expect(parseDbArgs(['backup', '--env', 'local', '--type', 'diff'])).toMatchObject({ command: 'backup', type: 'diff' });
  });

  it.each<[string[], RegExp]>([
    [[], /expected one command/],
    [['restore'], /--env is required/],
    [['drop', '--env', 'ibm'], /unknown command "drop"/],
    [['restore', '--env', 'ibm', '--to', '2026-11-30 04:47:27', '--yes'], /--to must be a timestamp with a time zone/],
    [['restore', '--env', 'ibm', '--to', 'yesterday', '--yes'], /--to must be a timestamp/],
    [['restore', '--env', 'ibm'], /--yes is required/],
    [['backup', '--env', 'ibm'], /--type must be "full" or "diff", got nothing/],
    [['backup', '--env', 'ibm', '--type', 'incr'], /--type must be "full" or "diff", got "incr"/],
    [['status', '--env', 'ibm', '--to', '2026-11-30 04:47:27+00'], /--to is only valid with "restore"/],
    [['status', '--env', 'ibm', '--bogus'], /Unknown option '--bogus'/],
  ])('rejects %j naming the flag', (argv, message) => {
    expect(() => parseDbArgs(argv)).toThrow(message);
  });

  it('exits 2 with usage for bad flags and for an unknown environment, before touching a cluster', async () => {
    const io = memoryIO();
    expect(await dbCommand(['restore', '--env', 'ibm', '--to', 'noon', '--yes'], io)).toBe(2);
    expect(io.stderr()).toMatch(/--to must be[\s\S]*usage: npm run db/);
    const io2 = memoryIO();
    expect(await dbCommand(['status', '--env', 'staging'], io2)).toBe(2);
    expect(io2.stderr()).toMatch(/unknown environment/);
  });

  it('runs a backup as a Job from the CronJob and stops waiting when the Job fails, with its output', async () => {
    const calls: string[] = [];
    const kubectl = (states: string[]) => async (args: readonly string[]) => {
      calls.push(args.join(' '));
      if (args[0] === 'get') {
        const state = states.shift()!;
        return JSON.stringify({ status: state === 'running' ? {} : { conditions: [{ type: state, status: 'True', reason: state === 'Failed' ? 'BackoffLimitExceeded' : undefined }] } });
      }
      if (args[0] === 'logs') return 'ERROR: [056]: unable to find primary cluster\n';
      return '';
    };
    const done = await runBackupJob(kubectl(['running', 'Complete']), 'full', 1);
    expect(done).toMatch(/^postgres-backup-full-manual-/);
    expect(calls[0]).toBe(`create job ${done} --from=cronjob/postgres-backup-full`);
    calls.length = 0;
    await expect(runBackupJob(kubectl(['running', 'running', 'Failed']), 'diff', 1)).rejects.toThrow(/backup job\/postgres-backup-diff-manual-\w+ failed \(BackoffLimitExceeded\); its output ends with:\nERROR: \[056\]: unable to find primary cluster/);
    expect(calls.filter((c) => c.startsWith('get job'))).toHaveLength(3);
  });
});
