/**
 * Streaming CSV records with their positions: each record comes with the line it starts on (for
 * per-row errors) and the byte offset just after it (the checkpoint a resumed import restarts
 * from). Parsing is csv-parse's; positions come from two small additions:
 *
 * - byte offsets: csv-parse updates `parser.info.bytes` right before it emits each record, so a
 *   subclass that intercepts `push` reads the exact offset after that record;
 * - line numbers: a pass-through tap keeps the raw chunks the parser has not finished with and
 *   counts line breaks between record offsets (csv-parse's own `info.lines` counts a CRLF inside a
 *   quoted field as two lines). The same chunks give the raw text of a rejected record.
 *
 * Records are handed out in batches (those of one input chunk), which keeps the per-record cost of
 * the stream machinery out of the hot path. Memory stays bounded by a few input chunks plus one
 * record of at most `maxRecordBytes`.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream';
import { CsvError, Parser } from 'csv-parse';

export interface CsvRecord {
  fields: string[];
  /** 1-based line number the record starts on. */
  line: number;
  /** Byte offset of the record's first byte in the file. */
  start: number;
  /** Byte offset just after the record (and its line break). */
  end: number;
}

export interface RecordBatch {
  records: CsvRecord[];
  /** The record's bytes as text (at most `maxBytes`), for error reports. Valid until the next batch is requested. */
  raw(record: CsvRecord, maxBytes?: number): string;
}

export interface ReadOptions {
  delimiter: string;
  /** Byte offset of `source`'s first byte in the file (0, or a checkpoint). */
  start?: number;
  /** Line number at `start` (1, or the line after the checkpoint). */
  line?: number;
  /** Lines end with a lone CR. */
  crOnly?: boolean;
  /** Longest record accepted, in bytes; longer means a runaway quote (default 64 KiB). */
  maxRecordBytes?: number;
}

/** The file cannot be parsed past `line` (an unclosed quote, a runaway record). Nothing after it is readable. */
export class CsvFormatError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
    this.name = 'CsvFormatError';
  }
}

/** Keeps the raw chunks between the oldest unconsumed record and the parser, and counts line breaks. */
class LineTap extends Transform {
  private chunks: { offset: number; buf: Buffer }[] = [];
  private next: number;
  private pos: number;
  private lineAtPos: number;
  constructor(
    start: number,
    line: number,
    private readonly newline: number,
  ) {
    super();
    this.next = start;
    this.pos = start;
    this.lineAtPos = line;
  }
  override _transform(buf: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.chunks.push({ offset: this.next, buf });
    this.next += buf.length;
    cb(null, buf);
  }
  /** Line number of byte `offset` (offsets must not go backwards). */
  lineAt(offset: number): number {
    let i = 0;
    while (this.pos < offset && i < this.chunks.length) {
      const { offset: o, buf } = this.chunks[i]!;
      const chunkEnd = o + buf.length;
      if (chunkEnd <= this.pos) {
        i++;
        continue;
      }
      const to = Math.min(offset, chunkEnd) - o;
      let k = this.pos - o;
      while ((k = buf.indexOf(this.newline, k)) !== -1 && k < to) {
        this.lineAtPos++;
        k++;
      }
      this.pos = o + to;
      if (this.pos < offset) i++;
    }
    return this.lineAtPos;
  }
  /** Bytes [from, to) as UTF-8 text, at most `max` bytes. */
  text(from: number, to: number, max: number): string {
    const end = Math.min(to, from + max);
    const parts: Buffer[] = [];
    for (const { offset, buf } of this.chunks) {
      const a = Math.max(from, offset);
      const b = Math.min(end, offset + buf.length);
      if (a < b) parts.push(buf.subarray(a - offset, b - offset));
    }
    return Buffer.concat(parts).toString('utf8');
  }
  /** Counts line breaks up to `offset`, then forgets the chunks that end before it. */
  release(offset: number): void {
    this.lineAt(offset);
    let n = 0;
    while (n < this.chunks.length && this.chunks[n]!.offset + this.chunks[n]!.buf.length <= offset) n++;
    if (n > 0) this.chunks.splice(0, n);
  }
}

/** csv-parse's Parser, emitting arrays of `{fields, end}` (one per input chunk) instead of single records. */
class BatchingParser extends Parser {
  private batch: { fields: string[]; end: number }[] = [];
  /** Offset after the last record parsed (relative to the stream's start). */
  lastEnd = 0;
  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) {
      this.flushBatch();
      return super.push(null, encoding);
    }
    this.lastEnd = this.info.bytes;
    this.batch.push({ fields: chunk as string[], end: this.lastEnd });
    return true;
  }
  override _transform(buf: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    super._transform(buf, enc, (err?: Error | null) => {
      this.flushBatch();
      cb(err);
    });
  }
  override _flush(cb: TransformCallback): void {
    super._flush((err?: Error | null) => {
      this.flushBatch();
      cb(err);
    });
  }
  private flushBatch(): void {
    if (this.batch.length === 0) return;
    const b = this.batch;
    this.batch = [];
    super.push(b);
  }
}

/**
 * Reads `source` (a file, or the part of it after a checkpoint) as CSV records in batches.
 * A blank line is a record with one empty field (callers skip it); nothing is dropped silently.
 * @throws CsvFormatError when the rest of the file cannot be parsed (the line it starts on is named).
 */
export async function* readRecords(source: Readable, opts: ReadOptions): AsyncGenerator<RecordBatch> {
  const start = opts.start ?? 0;
  const tap = new LineTap(start, opts.line ?? 1, opts.crOnly ? 0x0d : 0x0a);
  const parser = new BatchingParser({
    delimiter: opts.delimiter,
    bom: start === 0,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: false,
    max_record_size: opts.maxRecordBytes ?? 64 * 1024,
  });
  const out = pipeline(source, tap, parser, () => undefined);
  let prevEnd = start;
  try {
    for await (const batch of out as AsyncIterable<{ fields: string[]; end: number }[]>) {
      tap.release(prevEnd);
      const records: CsvRecord[] = new Array(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const { fields, end } = batch[i]!;
        const abs = start + end;
        records[i] = { fields, line: tap.lineAt(prevEnd), start: prevEnd, end: abs };
        prevEnd = abs;
      }
      yield { records, raw: (r, max = 1024) => tap.text(r.start, r.end, max).replace(/\r?\n$/, '') };
    }
  } catch (err) {
    if (err instanceof CsvError) {
      // The failing record starts after the last one parsed (perhaps not handed out yet).
      const line = tap.lineAt(start + parser.lastEnd);
      const reason =
        err.code === 'CSV_QUOTE_NOT_CLOSED'
          ? 'a quoted field is never closed'
          : err.code === 'CSV_MAX_RECORD_SIZE'
            ? `a record is longer than ${opts.maxRecordBytes ?? 64 * 1024} bytes (is a quote left open?)`
            : err.message;
      throw new CsvFormatError(line, reason);
    }
    throw err;
  } finally {
    if (!out.destroyed) out.destroy();
    if (!source.destroyed) source.destroy();
  }
}
