/**
 * Every rendered haproxy.cfg (both targets, every environment, the placement variants) passes
 * the real HAProxy's own check, `haproxy -dW -c -f` (zero-warning mode), and `npm run synth`'s
 * output carries the same cfg in dist/<env>/haproxy.cfg and in the ConfigMap.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, loadEnvironment } from '@expense-tracker/model/environment';
import { checkHaproxyConfig } from '../../scripts/local/haproxy.js';
import { renderHaproxyConfig, type HaproxyTarget } from '../../charts/haproxy-config.js';
import { renderEnvironment } from '../../scripts/lib/outputs.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haproxy-cfg-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function check(name: string, cfg: string) {
  const path = join(dir, `${name}.cfg`);
  await writeFile(path, cfg);
  return checkHaproxyConfig(path);
}

const targets: Array<[string, HaproxyTarget]> = [
  ['kubernetes', { kind: 'kubernetes' }],
  [
    'local',
    {
      kind: 'local',
      instances: [{ port: 18081 }, { port: 18082 }, { port: 18083, backup: true }],
      port: 18080,
      statsPort: 18404,
      statsSocket: '/tmp/haproxy-cfg-check/admin.sock',
    },
  ],
];

describe('haproxy -c accepts every rendered cfg', () => {
  for (const envName of ENVIRONMENT_NAMES) {
    for (const [targetName, target] of targets) {
      for (const set of [[], ['haproxy.balance.web=leastconn', 'haproxy.balance.api=roundrobin', 'haproxy.serverSlots=64']]) {
        it(`${envName} / ${targetName}${set.length ? ' / ' + set.join(',') : ''}`, async () => {
          const env = loadEnvironment(envName, { imageTag: '1.0.0', set });
          const result = await check(`${envName}-${targetName}-${set.length}`, renderHaproxyConfig(env, target));
          expect(result.output).toContain('Configuration file is valid');
          expect(result.valid, result.output).toBe(true);
        });
      }
    }
  }

  it('synth output: dist/<env>/haproxy.cfg equals the ConfigMap data and passes the check', async () => {
    for (const envName of ENVIRONMENT_NAMES) {
      const out = renderEnvironment(loadEnvironment(envName, { imageTag: '1.0.0' }));
      const file = out.files.get('haproxy.cfg');
      expect(file, `${envName}: dist/${envName}/haproxy.cfg`).toBeDefined();
      const cm = out.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'haproxy-config') as any;
      expect(cm.data['haproxy.cfg']).toBe(file);
      const result = await check(`dist-${envName}`, file!);
      expect(result.valid, result.output).toBe(true);
    }
  });

  it('the check is real: a broken cfg and a warning both fail', async () => {
    const env = loadEnvironment('local', { imageTag: '1.0.0' });
    const good = renderHaproxyConfig(env, { kind: 'kubernetes' });
    const broken = await check('broken', good.replace('balance roundrobin', 'balance round-robin'));
    expect(broken.valid).toBe(false);
    expect(broken.output).toMatch(/balance only supports/);
    // A frontend without a log target but with httplog only warns; -dW makes it fatal.
    const warning = await check('warning', good.replace('    log global\n', ''));
    expect(warning.valid).toBe(false);
    expect(warning.output).toMatch(/no log address/);
  });
});
