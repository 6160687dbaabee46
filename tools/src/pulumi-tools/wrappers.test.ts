import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PULUMI_VERSION, WRAPPERS_DIR } from './tools.js';

/** `module path → version` of every `require` in a go.mod (single-line and block form). */
function requirements(wrapper: string): Map<string, string> {
  const text = readFileSync(join(WRAPPERS_DIR, wrapper, 'go.mod'), 'utf8');
  const found = new Map<string, string>();
  let inBlock = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    if (line === 'require (') inBlock = true;
    else if (inBlock && line === ')') inBlock = false;
    else {
      const m = /^(?:require\s+)?(\S+)\s+(v\S+)$/.exec(line);
      if (m && (inBlock || raw.startsWith('require '))) found.set(m[1], m[2]);
    }
  }
  return found;
}

describe('Go wrapper modules of the Pulumi binaries', () => {
  const cli = requirements('pulumi');
  const provider = requirements('pulumi-resource-kubernetes');

  it('builds the CLI at PULUMI_VERSION, the pulumi pkg/sdk version the provider builds against', () => {
    for (const module of ['github.com/pulumi/pulumi/pkg/v3', 'github.com/pulumi/pulumi/sdk/v3']) {
      expect(cli.get(module), `${module} in go/pulumi/go.mod`).toBe(PULUMI_VERSION);
      expect(provider.get(module), `${module} in go/pulumi-resource-kubernetes/go.mod`).toBe(PULUMI_VERSION);
    }
  });

  it('pins every module the two share at one version, so one build reuses the other\'s compiled packages', () => {
    const shared = [...cli.keys()].filter((module) => provider.has(module));
    expect(shared.length).toBeGreaterThan(50);
    const differing = shared.filter((module) => cli.get(module) !== provider.get(module)).map((m) => `${m}: ${cli.get(m)} vs ${provider.get(m)}`);
    expect(differing).toEqual([]);
  });
});
