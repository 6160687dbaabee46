import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileStagingStore } from '../../src/imports/store.js';

// open(2) of a new file can stall on a busy disk; every staging write stream here opens its
// file 50 ms late, so an abort always lands while the open is still pending.
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const slowOpen = ((...args: Parameters<typeof fs.open>) => void setTimeout(() => (fs.open as (...a: unknown[]) => void)(...args), 50)) as typeof fs.open;
  const createWriteStream = (file: string, options: Record<string, unknown>) =>
    fs.createWriteStream(file, { ...options, fs: { open: slowOpen, write: fs.write, writev: fs.writev, close: fs.close } });
  return { ...fs, default: { ...fs, createWriteStream }, createWriteStream };
});

const ID = '0b7c4e1a-5d2f-4c3b-9a8e-1f2d3c4b5a69';

describe('FileStagingStore', () => {
  let dir: string;
  let store: FileStagingStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'staging-'));
    store = new FileStagingStore(dir);
    await store.init();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('abort while the open is still pending leaves no partial file', async () => {
    const upload = store.create(ID);
    await sleep(10); // the open has been issued, not completed
    await upload.abort();
    await sleep(100); // a late open() would have created the file by now
    expect(await store.list()).toEqual([]);
  });

  it('abort after some bytes were written removes the partial file', async () => {
    const upload = store.create(ID);
    await new Promise<void>((resolve, reject) => upload.stream.write('date,amount\n', (err) => (err ? reject(err) : resolve())));
    expect((await store.list()).map((f) => f.partial)).toEqual([true]);
    await upload.abort();
    expect(await store.list()).toEqual([]);
  });

  it('commit makes the upload readable under its id', async () => {
    const upload = store.create(ID);
    await new Promise<void>((resolve) => upload.stream.end('date,amount\n2024-01-01,-1.00\n', resolve));
    await upload.commit();
    expect(await store.list()).toMatchObject([{ id: ID, partial: false, sizeBytes: 29 }]);
    expect(await store.exists(ID)).toBe(true);
  });
});
