/** Log files and child-process output read line by line. */
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';

/** Last `lines` lines of a text file, or `(no log at <path>)` when it cannot be read. */
export function logTail(path: string, lines = 25): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log at ${path})`;
  }
}

/**
 * Calls `onLine` for every complete line of `stream` (UTF-8, `\n` separated, without the newline)
 * and for a last unterminated line when the stream ends.
 */
export function onLines(stream: Readable | null | undefined, onLine: (line: string) => void): void {
  if (!stream) return;
  stream.setEncoding('utf8');
  let pending = '';
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    lines.forEach(onLine);
  });
  stream.on('end', () => {
    if (pending) onLine(pending);
    pending = '';
  });
}

/** A bounded FIFO of the last `size` lines (for error messages that quote a build's output). */
export class LineTail {
  private readonly lines: string[] = [];
  constructor(private readonly size = 40) {}
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.size) this.lines.shift();
  }
  toString(): string {
    return this.lines.join('\n');
  }
}

/** A progress sink: one human-readable event per call. */
export type Progress = (message: string) => void;

/** Progress on stderr, each line prefixed with `[<tag>] ` so it stands out in test output. */
export function stderrProgress(tag: string): Progress {
  return (message) => process.stderr.write(`[${tag}] ${message}\n`);
}
