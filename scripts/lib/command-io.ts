/** Where a command writes its messages (stdout-like `log`, stderr-like `error`). */
export interface CommandIO {
  readonly log: (line: string) => void;
  readonly error: (line: string) => void;
}

/** Writes to the process's stdout and stderr. */
export const consoleIO: CommandIO = { log: (line) => console.log(line), error: (line) => console.error(line) };

/** Collects messages in memory (tests). */
export function memoryIO(): CommandIO & { stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return { log: (l) => out.push(l), error: (l) => err.push(l), stdout: () => out.join('\n'), stderr: () => err.join('\n') };
}
