import { describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { synthesize } from '../charts/synthesize.js';
import { metricNames } from './promql-names.js';
import { buildRuleGroups, type RuleGroup } from './rules.js';

/**
 * Recorded series an alert reads that are not recorded before it in its own group. Prometheus
 * runs groups independently, so such an alert sees the recording of this evaluation or of the
 * previous one depending on scheduling (and promtool picks a random group order).
 */
function crossGroupReads(groups: readonly RuleGroup[]): string[] {
  const recordedAnywhere = new Set(groups.flatMap((g) => g.rules.flatMap((r) => ('record' in r ? [r.record] : []))));
  const found: string[] = [];
  for (const g of groups) {
    const recordedBefore = new Set<string>();
    for (const r of g.rules) {
      if ('record' in r) recordedBefore.add(r.record);
      else for (const m of metricNames(r.expr)) if (recordedAnywhere.has(m) && !recordedBefore.has(m)) found.push(`${g.name}: ${r.alert} reads ${m}`);
    }
  }
  return found;
}

describe('rule groups', () => {
  it('every alert reads recordings made earlier in its own group', () => {
    for (const name of ['local', 'ibm'] as const) {
      const env = loadEnvironment(name, { imageTag: '1.0.0' });
      const groups = buildRuleGroups(env.monitoring, synthesize(env).topology);
      expect(groups.flatMap((g) => g.rules).filter((r) => 'alert' in r).length).toBeGreaterThan(10);
      expect(crossGroupReads(groups)).toEqual([]);
    }
  });

  it('finds an alert that reads another group\'s recording (the check can fail)', () => {
    const groups: RuleGroup[] = [
      { name: 'rec', rules: [{ record: 'x:y:rate5m', expr: 'rate(x[5m])' }] },
      { name: 'alerts', rules: [{ alert: 'A', expr: 'x:y:rate5m > 1', labels: { severity: 'warning' }, annotations: { summary: '', description: '', runbook_url: '' } }] },
    ];
    expect(crossGroupReads(groups)).toEqual(['alerts: A reads x:y:rate5m']);
  });
});
