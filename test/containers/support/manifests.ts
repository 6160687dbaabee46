/**
 * Reads what `npm run synth` writes, so container tests configure the app exactly as the
 * Kubernetes deployment does (the `expense-config` ConfigMap), not from a hand-kept copy.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '@expense-tracker/tools/docker-engine/images';

/** Runs `npm run synth -- --env <env> --out <outDir>`; returns `<outDir>/<env>`. */
export async function synthesize(env: string, outDir: string): Promise<string> {
  await execa('npm', ['run', '-s', 'synth', '--', '--env', env, '--out', outDir], { cwd: REPO_ROOT });
  return join(outDir, env);
}

/**
 * Runs `npm run synth -- --env <env> --out <outDir>` (the real CLI) and returns the `data` of
 * the ConfigMap named `name` from `<outDir>/<env>/*.yaml`.
 * @throws Error when synth fails or no such ConfigMap was written.
 */
export async function synthesizedConfigMap(env: string, outDir: string, name = 'expense-config'): Promise<Record<string, string>> {
  await synthesize(env, outDir);
  const dir = join(outDir, env);
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const obj = doc.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> } | null;
      if (obj?.kind === 'ConfigMap' && obj.metadata?.name === name) return { ...(obj.data ?? {}) };
    }
  }
  throw new Error(`npm run synth wrote no ConfigMap "${name}" to ${dir}`);
}
