/**
 * The checked-in `charts/imports/` equal a fresh `cdk8s import` of the pinned Prometheus
 * Operator CRDs (module zip from the Go module proxy, cached in the project's GOMODCACHE).
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

describe('charts/imports', () => {
  it('matches a fresh import of the pinned CRDs', async () => {
    const r = await execa('npx', ['tsx', 'scripts/import-crds.ts', '--check'], { reject: false, all: true });
    expect(r.all).toMatch(/charts\/imports matches github\.com\/prometheus-operator\/prometheus-operator v/);
    expect(r.exitCode, r.all).toBe(0);
  });
});
