import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireSlot, GLOBAL_SYSCTLS, globalSysctls, releaseSlot } from './host.js';

// A private state directory: these tests never touch a real cluster's slots or network.
let run: string;
let previous: string | undefined;
beforeEach(() => {
  previous = process.env.EXPENSE_TRACKER_RUN_DIR;
  run = mkdtempSync(join(tmpdir(), 'testkit-host-'));
  process.env.EXPENSE_TRACKER_RUN_DIR = run;
});
afterEach(() => {
  if (previous === undefined) delete process.env.EXPENSE_TRACKER_RUN_DIR;
  else process.env.EXPENSE_TRACKER_RUN_DIR = previous;
  rmSync(run, { recursive: true, force: true });
});

describe('node slots and the global sysctls', () => {
  it('gives overlapping clusters distinct slots and keeps the saved sysctls until the last one releases', async () => {
    const clusters = [mkdtempSync(join(tmpdir(), 'c-a-')), mkdtempSync(join(tmpdir(), 'c-b-'))];
    try {
      const [a, b] = await Promise.all(clusters.map((d) => acquireSlot(d)));
      expect(new Set([a!.slot, b!.slot])).toEqual(new Set([1, 2]));
      expect(a!.netns).not.toBe(b!.netns);
      expect(existsSync(join(run, 'sysctls.json'))).toBe(true);
      // The first release leaves the second cluster's host state alone.
      expect(await releaseSlot(a!.slot)).toEqual({});
      expect(existsSync(join(run, 'sysctls.json'))).toBe(true);
      // The last release writes the saved values back (here unchanged) and forgets them.
      const restored = await releaseSlot(b!.slot);
      expect(Object.keys(restored).sort()).toEqual([...GLOBAL_SYSCTLS].sort());
      expect(restored).toEqual(globalSysctls());
      expect(existsSync(join(run, 'sysctls.json'))).toBe(false);
      expect(readdirSync(join(run, 'slots'))).toEqual([]);
      // Released slots are reused, lowest first.
      expect((await acquireSlot(clusters[0]!)).slot).toBe(1);
    } finally {
      for (const d of clusters) rmSync(d, { recursive: true, force: true });
    }
  });

  it('releasing twice is harmless', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'c-x-'));
    try {
      const n = await acquireSlot(dir);
      await releaseSlot(n.slot);
      expect(await releaseSlot(n.slot)).toEqual({});
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
