import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyWithOverlay, listFiles, withReplaces } from './module-patch.js';
import { BINARIES } from './versions.js';
import { GO_MODULES_DIR } from './build.js';

describe('patched dependency modules', () => {
  const dirs: string[] = [];
  const scratch = () => {
    const d = mkdtempSync(join(tmpdir(), 'etk-module-patch-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) {
      chmodSync(d, 0o755);
      rmSync(d, { recursive: true, force: true });
    }
  });

  /** A read-only module tree, as GOMODCACHE stores it. */
  function readOnlyModule(root: string): string {
    const mod = join(root, 'mod');
    mkdirSync(join(mod, 'providers/dns'), { recursive: true });
    writeFileSync(join(mod, 'go.mod'), 'module example.com/lego\n');
    writeFileSync(join(mod, 'providers/dns/registry.go'), 'package dns // upstream\n');
    writeFileSync(join(mod, 'keep.go'), 'package lego\n');
    for (const f of ['providers/dns/registry.go', 'keep.go', 'go.mod']) chmodSync(join(mod, f), 0o444);
    return mod;
  }

  it('copies the module, writes the overlay over it and leaves the source untouched', () => {
    const root = scratch();
    const mod = readOnlyModule(root);
    const target = join(root, 'patched');
    copyWithOverlay(mod, [['providers/dns/registry.go', 'package dns // stub\n']], target, 'example.com/lego@v1.0.0');
    expect(readFileSync(join(target, 'providers/dns/registry.go'), 'utf8')).toBe('package dns // stub\n');
    expect(readFileSync(join(target, 'keep.go'), 'utf8')).toBe('package lego\n');
    expect(readFileSync(join(mod, 'providers/dns/registry.go'), 'utf8')).toBe('package dns // upstream\n');
    expect(statSync(join(target, 'keep.go')).mode & 0o200).toBe(0o200);
  });

  it('refuses an overlay file upstream does not have, naming it, and leaves no copy', () => {
    const root = scratch();
    const mod = readOnlyModule(root);
    const target = join(root, 'patched');
    expect(() => copyWithOverlay(mod, [['providers/dns/moved.go', 'package dns\n']], target, 'example.com/lego@v1.0.0')).toThrow(
      'overlay file providers/dns/moved.go does not exist in example.com/lego@v1.0.0',
    );
    expect(existsSync(target)).toBe(false);
  });

  it('appends one replace per patched module to the go.mod', () => {
    expect(withReplaces('module x\n\ngo 1.26\n', { 'example.com/lego': '/c/lego' })).toMatch(/^module x\n\ngo 1\.26\n\n\/\/ .*\nreplace example\.com\/lego => \/c\/lego\n$/);
  });

  it('every patched build has an overlay per patched module and a variant name; variants are unique per binary', () => {
    const patched = BINARIES.filter((b) => b.patchModules?.length);
    expect(patched.map((b) => b.name)).toEqual(['traefik', 'prometheus']);
    for (const spec of patched) {
      expect(spec.variant).toBeTruthy();
      for (const module of spec.patchModules!) expect(listFiles(join(GO_MODULES_DIR, spec.module, 'overlay', module)).length).toBeGreaterThan(0);
    }
  });
});
