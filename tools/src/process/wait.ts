/** Polling with deadlines. */

/** Thrown by `waitUntil` at its deadline; `last` is the last value or error message seen. */
export class TimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly last: unknown,
  ) {
    super(`timed out after ${timeoutMs / 1000}s waiting for ${what} (last: ${JSON.stringify(last)})`);
    this.name = 'TimeoutError';
  }
}

export interface WaitOptions {
  /** Deadline in milliseconds from the first call. */
  timeoutMs: number;
  /** Pause between calls in milliseconds. @default 250 */
  intervalMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `check` until it returns a truthy value; a thrown error counts as "not yet" (its message
 * is kept for the timeout error).
 * @returns the truthy value.
 * @throws TimeoutError naming `what`, with the last value or error, at the deadline.
 */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined | null | false> | T | undefined | null | false, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    if (Date.now() >= deadline) throw new TimeoutError(what, options.timeoutMs, last);
    await sleep(options.intervalMs ?? 250);
  }
}

/**
 * Like `waitUntil` for a boolean condition, without throwing.
 * @returns true when `check` returned true before the deadline, else false.
 */
export async function pollUntil(check: () => Promise<boolean> | boolean, options: WaitOptions): Promise<boolean> {
  try {
    await waitUntil('condition', async () => (await check()) || undefined, options);
    return true;
  } catch (error) {
    if (error instanceof TimeoutError) return false;
    throw error;
  }
}
