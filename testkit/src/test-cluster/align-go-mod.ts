/**
 * Aligns the dependency versions of the wrapper modules in each of `SHARED_DEPENDENCY_GROUPS`
 * (versions.ts): every module that provides packages to two members' binaries is required at the
 * highest version any member compiles, then `go mod tidy`, until nothing changes. Go's build cache is keyed by content,
 * so a package compiled for one tool (k8s.io/client-go, grpc, x/net, ...) is reused by the next
 * only when its whole dependency closure has the same versions; aligned, the group compiles those
 * packages once on a cold cache. Run after changing a version in the group:
 *
 *   npx tsx testkit/src/test-cluster/align-go-mod.ts
 *
 * Versions only go up (minimum version selection), never below what a tool requires.
 * @throws Error when a `go` command fails (the module directory is named).
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { goEnv } from '@expense-tracker/tools/process/index';
import { GO_MODULES_DIR, stderrProgress } from './build.js';
import { BINARIES, SHARED_DEPENDENCY_GROUPS } from './versions.js';

const env = goEnv({ GOFLAGS: '-trimpath -mod=mod' });

/** Modules (path → version) providing the packages the module's binaries compile (`go list -deps`). */
async function compiledModules(module: string): Promise<Map<string, string>> {
  const pkgs = BINARIES.filter((b) => b.module === module).map((b) => b.pkg);
  const { stdout } = await execa('go', ['list', '-deps', '-f', '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}', ...pkgs], { cwd: join(GO_MODULES_DIR, module), env });
  return new Map(stdout.split('\n').filter(Boolean).map((line) => line.split(' ') as [string, string]));
}

/** Semantic version order of Go module versions (pseudo-versions included), via `golang.org/x/mod/semver` rules. */
function compare(a: string, b: string): number {
  const parse = (v: string) => {
    const [core, pre = ''] = v.replace(/^v/, '').replace(/\+incompatible$/, '').split(/-(.*)/s);
    return { nums: core!.split('.').map(Number), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) if ((x.nums[i] ?? 0) !== (y.nums[i] ?? 0)) return (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
  if (x.pre === y.pre) return 0;
  if (!x.pre) return 1;
  if (!y.pre) return -1;
  return x.pre < y.pre ? -1 : 1;
}

for (const group of SHARED_DEPENDENCY_GROUPS) {
  for (let round = 1; ; round++) {
    const lists = new Map(await Promise.all(group.map(async (m) => [m, await compiledModules(m)] as const)));
    const highest = new Map<string, string>();
    for (const list of lists.values()) for (const [path, version] of list) if (!highest.has(path) || compare(version, highest.get(path)!) > 0) highest.set(path, version);
    let changed = 0;
    for (const [module, list] of lists) {
      const raises = [...list].filter(([path, version]) => compare(highest.get(path)!, version) > 0).map(([path]) => `-require=${path}@${highest.get(path)}`);
      if (raises.length === 0) continue;
      changed += raises.length;
      await execa('go', ['mod', 'edit', ...raises], { cwd: join(GO_MODULES_DIR, module), env });
      await execa('go', ['mod', 'tidy'], { cwd: join(GO_MODULES_DIR, module), env });
    }
    stderrProgress(`${group.join(', ')}: round ${round}, ${changed} requirements raised`);
    if (changed === 0) break;
  }
}
