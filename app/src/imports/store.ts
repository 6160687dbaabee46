/**
 * The staging area: where an uploaded file waits, whole, until a worker has imported it. It must
 * outlive the web and worker pods (a PersistentVolumeClaim mounted by both in Kubernetes), so an
 * import interrupted by a pod restart resumes from the same bytes.
 *
 * Layout of the directory: `<import id>.csv` for stored uploads, `<import id>.csv.part` while an
 * upload is being received (renamed after fsync, so a `.csv` file is always complete). Files are
 * created 0600 in a 0700 directory.
 */
import { constants, createReadStream, createWriteStream, type ReadStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';

/** One upload being written; `commit` makes it visible to readers, `abort` removes it. */
export interface StagedUpload {
  stream: WriteStream;
  /** Flushes to disk and publishes the file. Call after `stream` has finished. */
  commit(): Promise<void>;
  /** Removes the partial file (safe to call after a failure, or twice). */
  abort(): Promise<void>;
}

export interface StagedFile {
  id: string;
  sizeBytes: number;
  modifiedAt: Date;
  /** Still being received (`.part`). */
  partial: boolean;
}

/**
 * Opens the configured staging store for the web process. Without `IMPORT_STAGING_DIR`, or when
 * the directory cannot be written (the volume is missing or read-only), imports are unavailable
 * (`reason` says why) and the rest of the app works as usual.
 */
export async function openStagingStore(
  dir: string | undefined,
  log: { error(obj: object, msg: string): void },
): Promise<{ store: FileStagingStore | null; reason?: string }> {
  if (!dir) return { store: null, reason: 'imports are not configured on this server (IMPORT_STAGING_DIR is not set)' };
  const store = new FileStagingStore(dir);
  try {
    await store.init();
    return { store };
  } catch (err) {
    log.error({ err: (err as Error).message, dir }, 'import staging directory is not writable; imports are unavailable');
    return { store: null, reason: 'imports are temporarily unavailable (the staging area cannot be written)' };
  }
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Filesystem staging store in `dir` (a mounted volume in production). */
export class FileStagingStore {
  constructor(readonly dir: string) {}

  /** Creates the directory (0700) when missing. @throws when it cannot be created or written. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const probe = path.join(this.dir, `.probe-${process.pid}`);
    const fh = await open(probe, 'w', 0o600);
    await fh.close();
    await rm(probe, { force: true });
  }

  private file(id: string, partial = false): string {
    if (!ID.test(id)) throw new Error(`not an import id: ${id}`);
    return path.join(this.dir, `${id}.csv${partial ? '.part' : ''}`);
  }

  create(id: string): StagedUpload {
    const part = this.file(id, true);
    const final = this.file(id);
    const stream = createWriteStream(part, { flags: 'w', mode: 0o600, highWaterMark: 256 * 1024 });
    return {
      stream,
      commit: async () => {
        const fh = await open(part, 'r+');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(part, final);
        // The rename is durable only once the directory entry is synced too.
        const dh = await open(this.dir, constants.O_RDONLY);
        try {
          await dh.sync();
        } finally {
          await dh.close();
        }
      },
      abort: async () => {
        // A stream destroyed before its open() finished still creates the file when the open
        // completes, so the partial file is removed only once the stream has closed.
        if (!stream.closed) {
          const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
          stream.destroy();
          await closed;
        }
        await rm(part, { force: true });
      },
    };
  }

  /** Reads a stored upload from byte `start`. @throws ENOENT when it is not there. */
  async open(id: string, start = 0): Promise<ReadStream> {
    const file = this.file(id);
    await stat(file);
    return createReadStream(file, { start, highWaterMark: 256 * 1024 });
  }

  async exists(id: string): Promise<boolean> {
    return stat(this.file(id)).then(
      () => true,
      () => false,
    );
  }

  async remove(id: string): Promise<void> {
    await rm(this.file(id), { force: true });
    await rm(this.file(id, true), { force: true });
  }

  /** Every file in the staging area (for the janitor and the operator CLI). */
  async list(): Promise<StagedFile[]> {
    const out: StagedFile[] = [];
    for (const name of await readdir(this.dir)) {
      const m = /^([0-9a-f-]{36})\.csv(\.part)?$/.exec(name);
      if (!m || !ID.test(m[1]!)) continue;
      const s = await stat(path.join(this.dir, name)).catch(() => null);
      if (s) out.push({ id: m[1]!, sizeBytes: s.size, modifiedAt: s.mtime, partial: m[2] !== undefined });
    }
    return out;
  }

  /** Bytes available to this process on the staging volume. */
  async freeBytes(): Promise<number> {
    const s = await statfs(this.dir);
    return s.bavail * s.bsize;
  }
}
