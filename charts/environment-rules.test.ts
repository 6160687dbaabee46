/**
 * The schema is the one place of every rule: any value it accepts must synthesize to valid
 * manifests, and any it refuses must be a ConfigError naming the field. This walks every setting
 * of each environment with edge values (bounds, odd quantities, flipped switches) one at a time.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, ENVIRONMENT_NAMES, environmentValues, loadEnvironment } from '@expense-tracker/model/environment';
import { renderEnvironment } from '../scripts/lib/outputs.js';

const NUMBERS = [0, 1, 2, 7, 61, 64, 257, 100_000, 1.5];
const QUANTITIES = ['1m', '0.001', '64', '1Ki', '1024Ki', '3Mi', '1Ti'];

/** `path=value` assignments: edge values for every scalar setting. */
function assignments(node: unknown, path: string[] = []): string[] {
  if (Array.isArray(node)) return [];
  if (node !== null && typeof node === 'object') return Object.entries(node).flatMap(([k, v]) => assignments(v, [...path, k]));
  const key = path.join('.');
  if (typeof node === 'number') return NUMBERS.map((n) => `${key}=${n}`);
  if (typeof node === 'boolean') return [`${key}=${!node}`];
  if (typeof node === 'string' && /^[0-9.]+(m|Ki|Mi|Gi|Ti)?$/.test(node)) return QUANTITIES.map((q) => `${key}=${q}`);
  return [];
}

const counts: Record<string, { accepted: number; refused: number }> = Object.fromEntries(
  ENVIRONMENT_NAMES.map((n) => [n, { accepted: 0, refused: 0 }]),
);

describe('every value the schema accepts synthesizes', () => {
  // One test per top-level section: the walk grows with the settings, and one test per
  // environment ran into the per-test timeout on a loaded machine.
  for (const name of ENVIRONMENT_NAMES) {
    const values = environmentValues(name, '1.0.0') as Record<string, unknown>;
    for (const section of Object.keys(values)) {
      const edits = assignments(values[section], [section]);
      if (edits.length === 0) continue;
      it(`${name}.${section}: accepted edge values render valid manifests, refused ones name their field`, () => {
        for (const assignment of edits) {
          let env;
          try {
            env = loadEnvironment(name, { imageTag: '1.0.0', set: [assignment] });
          } catch (error) {
            expect(error, assignment).toBeInstanceOf(ConfigError);
            expect((error as ConfigError).issues.join('\n'), assignment).toMatch(/^[a-zA-Z0-9.]+: /);
            counts[name].refused++;
            continue;
          }
          // Throws on a construct or renderer error, or on any validator finding.
          expect(() => renderEnvironment(env), assignment).not.toThrow();
          counts[name].accepted++;
        }
      });
    }
    it(`${name}: the walk both accepts and refuses edge values`, () => {
      expect(counts[name].accepted).toBeGreaterThan(20);
      expect(counts[name].refused).toBeGreaterThan(20);
    });
  }
});
