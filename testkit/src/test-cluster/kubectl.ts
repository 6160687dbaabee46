/**
 * Thin execa wrapper around the cluster's own kubectl (same version as the API server) bound to
 * one kubeconfig, plus polling with deadlines. Used by the launcher, the cluster tests and
 * bench/deploy.ts.
 */
import { execa } from 'execa';
import { waitUntil } from '@expense-tracker/tools/process/index';

export interface KubectlResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface KubectlOptions {
  /** Text piped to stdin (e.g. YAML for `apply -f -`). */
  input?: string;
  /** When false, a non-zero exit resolves instead of throwing. Default true. */
  reject?: boolean;
  /** Kill after this many milliseconds. Default 120 000. */
  timeoutMs?: number;
}

export interface Kubectl {
  /**
   * Runs `kubectl --kubeconfig <kubeconfig> ...args`.
   * @throws Error with the command line and stderr when it exits non-zero (unless `reject: false`).
   */
  run(args: string[], options?: KubectlOptions): Promise<KubectlResult>;
  /** Runs with `-o json` appended and parses stdout. */
  json<T = any>(args: string[], options?: KubectlOptions): Promise<T>;
  readonly binary: string;
  readonly kubeconfig: string;
}

export function kubectlFor(binary: string, kubeconfig: string): Kubectl {
  const run = async (args: string[], options: KubectlOptions = {}): Promise<KubectlResult> => {
    const result = await execa(binary, ['--kubeconfig', kubeconfig, ...args], {
      input: options.input,
      reject: false,
      timeout: options.timeoutMs ?? 120_000,
      env: { KUBECONFIG: kubeconfig },
      extendEnv: true,
    });
    const out = { stdout: String(result.stdout), stderr: String(result.stderr), exitCode: result.exitCode ?? -1 };
    if ((options.reject ?? true) && out.exitCode !== 0) {
      throw new Error(`kubectl ${args.join(' ')} exited ${out.exitCode}${result.timedOut ? ' (timed out)' : ''}: ${out.stderr.trim() || out.stdout.trim()}`);
    }
    return out;
  };
  return {
    binary,
    kubeconfig,
    run,
    json: async (args, options) => JSON.parse((await run([...args, '-o', 'json'], options)).stdout),
  };
}

/**
 * API server warnings (the `Warning` response header, RFC 7234 299) as kubectl prints them on
 * stderr: one line each, prefixed `Warning: `.
 */
export function warningsIn(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /^Warning: /.test(line));
}

/**
 * Polls `check` every `intervalMs` until it returns a truthy value (see `waitUntil`).
 * @returns the truthy value.
 * @throws TimeoutError naming `what`, with the last returned value or error, at the deadline.
 */
export function waitFor<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs: number, intervalMs = 250): Promise<T> {
  return waitUntil(what, check, { timeoutMs, intervalMs });
}
