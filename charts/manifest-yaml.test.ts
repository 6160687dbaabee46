import { describe, expect, it } from 'vitest';
import { load } from 'js-yaml';
import { parse } from 'yaml';
import { ENVIRONMENT_NAMES, loadEnvironment } from '@expense-tracker/model/environment';
import { toYaml } from './manifest-yaml.js';
import { synthesizeEnvironment, type KubeObject } from './synthesize.js';

/** Strings that a YAML 1.1 or 1.2 reader takes for something else when they are written plain. */
const TRICKY = [
  ...['y', 'Y', 'n', 'N', 'yes', 'No', 'on', 'OFF', 'true', 'False', 'null', 'Null', '~', ''],
  ...['0755', '0o12', '0x1F', '0b101', '1_000', '+12', '-12', '1e3', '1.5e+3', '1.', '1.2.3', '.5', '-.5', '.inf', '-.Inf', '.NaN'],
  ...['1:20', '190:20:30', '-1:30', '12:30:00', '1:20.5', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '<<', '='],
  ...['-', '- a', '-f', '--port', 'a: b', 'a #b', '#x', 'key:', '?', '? x', '!tag', '&a', '*a', '|', '>', '@x', '`x', '%x'],
  ...['"q"', "'q'", '{a}', '[a]', ',', ' lead', 'trail ', 'multi\nline', 'multi\nline\n', '\ttab', 'x\u0085y', '---', '...'],
];

const obj = (value: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { value }, list: [value] });

describe('toYaml', () => {
  it.each(TRICKY.map((s) => [JSON.stringify(s), s]))('writes %s so YAML 1.1 and 1.2 readers get the same string back', (_label, value) => {
    const text = toYaml(obj(value));
    for (const back of [parse(text, { version: '1.1' }), parse(text, { version: '1.2' }), load(text)] as KubeObject[]) {
      expect(back.data).toEqual({ value });
      expect(back.list).toEqual([value]);
    }
  });

  it('leaves ordinary names, images and ports plain, and writes numbers and booleans as such', () => {
    const text = toYaml({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'expense-web' }, spec: { image: 'localhost:5000/expense-tracker:1.0.0', replicas: 2, paused: false, args: ['--appendonly', 'no'] } });
    expect(text).toBe(
      ['apiVersion: apps/v1', 'kind: Deployment', 'metadata:', '  name: expense-web', 'spec:', '  image: localhost:5000/expense-tracker:1.0.0', '  replicas: 2', '  paused: false', '  args:', '    - "--appendonly"', '    - "no"', ''].join('\n'),
    );
  });

  it.each([...ENVIRONMENT_NAMES])('round-trips every object of environment %s through a YAML 1.1 reader', (name) => {
    for (const object of synthesizeEnvironment(loadEnvironment(name, { imageTag: '1.0.0' }))) {
      expect(parse(toYaml(object), { version: '1.1' })).toEqual(object);
    }
  });
});
