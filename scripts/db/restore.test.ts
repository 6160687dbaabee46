import { describe, expect, it } from 'vitest';
import { archiveEndedIn, recoveryTimeMicros, restoreCluster, RestoreTargetError, type BootstrapState, type ClusterOperations } from './restore.js';

/** Operations that record the calls; `states` are what member 0 reports, one per look (the last repeats). */
function fakeOps(options: { sealedAt?: string; states: BootstrapState[][] }) {
  const calls: string[] = [];
  let attempt = -1;
  let look = 0;
  const ops: ClusterOperations = {
    members: ['postgres-0', 'postgres-1', 'postgres-2'],
    sealArchive: async () => (calls.push('seal'), options.sealedAt),
    stopAll: async () => void calls.push('stop'),
    deleteDcsState: async () => void calls.push('dcs'),
    wipeData: async () => void calls.push('wipe'),
    publishRestoreFragment: async (f) => {
      const recovery = (f as { bootstrap?: { pgbackrest_restore: { recovery_conf: Record<string, string> } } } | null)?.bootstrap?.pgbackrest_restore.recovery_conf;
      calls.push(f ? `publish ${recovery?.recovery_target_time ?? 'end'}` : 'withdraw');
      if (f) {
        attempt++;
        look = 0;
      }
    },
    startMembers: async (n) => void calls.push(`start ${n}`),
    bootstrapState: async () => {
      const states = options.states[attempt];
      return states[Math.min(look++, states.length - 1)];
    },
    waitForReplicas: async () => void calls.push('replicas'),
    fullBackup: async () => void calls.push('backup'),
  };
  return { ops, calls };
}

describe('restoreCluster', () => {
  it('seals the archive, restores, backs the new timeline up before the replicas clone it', async () => {
    const { ops, calls } = fakeOps({ sealedAt: '2026-11-30 12:00:00.000001+00', states: [[{ state: 'restoring' }, { state: 'leading' }]] });
    const result = await restoreCluster(ops, { stanza: 'expense', targetTime: '2026-11-30 12:00:00.000001+00', pollSeconds: 0 });
    expect(result).toMatchObject({ restoredTo: 'target', sealedAt: '2026-11-30 12:00:00.000001+00' });
    expect(calls).toEqual(['seal', 'stop', 'dcs', 'wipe', 'publish 2026-11-30 12:00:00.000001+00', 'start 1', 'withdraw', 'backup', 'start 3', 'replicas']);
  });

  it('refuses a target after the newest restorable time before touching anything, naming that time', async () => {
    const { ops, calls } = fakeOps({ sealedAt: '2026-11-30 12:00:00.5+00', states: [[{ state: 'leading' }]] });
    // 13:00:00.6+01 is 12:00:00.6 UTC: a tenth of a second too late.
    const restore = restoreCluster(ops, { stanza: 'expense', targetTime: '2026-11-30 13:00:00.6+01:00' });
    await expect(restore).rejects.toThrow(RestoreTargetError);
    await expect(restore).rejects.toThrow(/later than the newest restorable time 2026-11-30 12:00:00.5\+00[\s\S]*Nothing was changed/);
    expect(calls).toEqual(['seal']);
  });

  it('without a primary, an archive that ends before the target is restored to its end with a warning', async () => {
    const { ops, calls } = fakeOps({ states: [[{ state: 'restoring' }, { state: 'archive-ended', lastTransaction: '2026-11-30 11:58:00.1+00' }], [{ state: 'leading' }]] });
    const warnings: string[] = [];
    const result = await restoreCluster(ops, { stanza: 'expense', targetTime: '2026-11-30 12:00:00+00', pollSeconds: 0, warn: (l) => warnings.push(l) });
    expect(result).toMatchObject({ restoredTo: 'end-of-archive', lastTransaction: '2026-11-30 11:58:00.1+00' });
    expect(calls).toEqual(['seal', 'stop', 'dcs', 'wipe', 'publish 2026-11-30 12:00:00+00', 'start 1', 'withdraw', 'stop', 'dcs', 'wipe', 'publish end', 'start 1', 'withdraw', 'backup', 'start 3', 'replicas']);
    expect(warnings.join('\n')).toMatch(/no primary answers[\s\S]*archive ends before 2026-11-30 12:00:00\+00: its last transaction is at 2026-11-30 11:58:00.1\+00; restoring to the end of the archive/);
  });

  it('gives up after the leader timeout, withdrawing the restore bootstrap', async () => {
    const { ops, calls } = fakeOps({ sealedAt: '2026-11-30 12:00:00+00', states: [[{ state: 'restoring' }]] });
    await expect(restoreCluster(ops, { stanza: 'expense', leaderTimeoutSeconds: 0, pollSeconds: 0 })).rejects.toThrow(/waiting for postgres-0 to restore, promote and take the leader lock failed: timed out/);
    expect(calls.at(-1)).toBe('withdraw');
  });
});

describe('recoveryTimeMicros', () => {
  it('compares zoned times to the microsecond', () => {
    expect(recoveryTimeMicros('1970-01-01 00:00:01.000002+00')).toBe(1_000_002n);
    expect(recoveryTimeMicros('2026-11-30T13:00:00Z')).toBe(recoveryTimeMicros('2026-11-30 14:30:00+01:30'));
    expect(recoveryTimeMicros('2026-11-30 12:00:00-05')).toBe(recoveryTimeMicros('2026-11-30 17:00:00+00'));
    expect(() => recoveryTimeMicros('2026-11-30 12:00:00')).toThrow(/time zone/);
  });
});

describe('archiveEndedIn', () => {
  it('finds PostgreSQL\'s end-of-archive failure and the last transaction it replayed', () => {
    const log = [
      '2026-11-30 12:01:02.000 UTC [41] LOG:  redo done at 0/5000110 system usage: CPU: user: 0.00 s',
      '2026-11-30 12:01:02.000 UTC [41] LOG:  last completed transaction was at log time 2026-11-30 11:58:00.123456+00',
      '2026-11-30 12:01:02.001 UTC [41] FATAL:  recovery ended before configured recovery target was reached',
    ].join('\n');
    expect(archiveEndedIn(log)).toEqual({ state: 'archive-ended', lastTransaction: '2026-11-30 11:58:00.123456+00' });
    expect(archiveEndedIn('LOG:  last completed transaction was at log time 2026-11-30 11:58:00+00')).toBeUndefined();
  });
});
