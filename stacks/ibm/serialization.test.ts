/**
 * The dynamic providers survive Pulumi's closure serialization (as at `pulumi up`, under
 * tsx) and the serialized code is self-contained: it captures only the URL of its
 * operations module, which it imports lazily.
 */
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('dynamic provider serialization', () => {
  it('serializes every provider without capturing modules', async () => {
    const script = fileURLToPath(new URL('./serialize-providers.ts', import.meta.url));
    const { stdout } = await execa('node', ['--import', 'tsx', script], { cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    const serialized = JSON.parse(stdout) as Record<string, string>;
    expect(Object.keys(serialized).sort()).toEqual(['icrNamespaceProvider', 'iksClusterProvider', 'minikubeClusterProvider']);
    for (const [name, text] of Object.entries(serialized)) {
      expect(text, name).toMatch(/OPERATIONS_URL: "file:\/\/\/.*-operations\.ts"/);
      expect(text, name).toMatch(/await import\(OPERATIONS_URL\)/);
      expect(text, name).not.toMatch(/require\(|__vite|IbmClient|execa\(/);
    }
    expect(serialized.iksClusterProvider).toMatch(/create: __f\d+/);
  }, 60_000);
});
