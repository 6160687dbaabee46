import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IMPORTS_DIR, SCHEMAS_FILE, VALIDATORS_FILE, VALIDATORS_TYPES_FILE, validatorsCode } from './import-crds.js';

const schemas = JSON.parse(readFileSync(join(IMPORTS_DIR, SCHEMAS_FILE), 'utf8')) as Record<string, unknown>;

describe('generated CRD validators', () => {
  it('the checked-in validators are what Ajv generates from the checked-in schemas', () => {
    const fresh = validatorsCode(schemas);
    expect(readFileSync(join(IMPORTS_DIR, VALIDATORS_FILE), 'utf8')).toBe(fresh.code);
    expect(readFileSync(join(IMPORTS_DIR, VALIDATORS_TYPES_FILE), 'utf8')).toBe(fresh.types);
  });

  it('generates the same text twice and exports one validator per schema', () => {
    const small = {
      $comment: 'skipped',
      'example.com/v1/Widget': { type: 'object', properties: { spec: { type: 'object', properties: { mode: { type: 'string', pattern: '(?i)^(on|off)$' } } } } },
    };
    const first = validatorsCode(small);
    expect(validatorsCode(small)).toEqual(first);
    expect(first.types).toContain('readonly "example.com/v1/Widget": ValidateFunction;');
    expect(first.types).not.toContain('$comment');
    const module = { exports: {} as Record<string, (data: unknown) => boolean> };
    new Function('module', 'exports', 'require', first.code)(module, module.exports, () => ({ default: (s: string) => s.length }));
    const validate = module.exports['example.com/v1/Widget'];
    expect(Object.keys(module.exports)).toEqual(['example.com/v1/Widget']);
    // Go's (?i) group becomes the i flag.
    expect(validate({ spec: { mode: 'ON' } })).toBe(true);
    expect(validate({ spec: { mode: 'maybe' } })).toBe(false);
    expect(validate({ spec: { mode: 3 } })).toBe(false);
  });
});
