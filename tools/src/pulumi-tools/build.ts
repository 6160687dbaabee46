/**
 * Builds (or reuses) the Pulumi binaries from the Go module proxy, one at a time, into the cache
 * outside the repo (see tools.ts for paths):
 *
 * 1. `pulumi` CLI from wrapper go/pulumi (pkg/v3 + sdk/v3 at PULUMI_VERSION, `-tags osusergo`,
 *    version ldflag);
 * 2. `pulumi-resource-kubernetes` from wrapper go/pulumi-resource-kubernetes: the wrapper is
 *    copied to a staging dir, `generate.go` writes the embedded schema files from the
 *    provider module's schema.json / terraform-mapping.json, then `go build`;
 * 3. a Pulumi root (`pulumi-root/<version>/bin`) with the CLI and the
 *    `pulumi-resource-pulumi-nodejs` shim (dynamic providers) from @pulumi/pulumi;
 * 4. `pulumi plugin install resource kubernetes <version> --file …` into the private PULUMI_HOME.
 *
 * Each binary builds under its lock (`withLock`): a caller that finds another process (CI's
 * background build, another worktree) building it waits, then reuses the result.
 * Command line: `npm run pulumi-tools` (cli.ts).
 */
import { execa } from 'execa';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { runGo, withLock } from '../process/index.js';
import { KUBERNETES_PROVIDER_MODULE, KUBERNETES_PROVIDER_VERSION, PULUMI_VERSION, REPO_ROOT, toolPaths, WRAPPERS_DIR } from './tools.js';

const paths = toolPaths();

/** What one `ensurePulumiTools` call passes to its steps. */
interface BuildContext {
  readonly force: boolean;
  readonly log: (message: string) => void;
}

/** Extra environment of this build's go commands (on top of `goEnv`). */
const GO_ENV = {
  // These modules' versions are served by the module proxy but unknown to the checksum
  // database here; the committed go.sum pins their hashes instead.
  GONOSUMDB: 'github.com/pulumi/pulumi-kubernetes,github.com/pulumi/cloud-ready-checks',
};

const go = ({ log }: BuildContext, args: string[], cwd: string, what: string): Promise<string> => runGo(args, { cwd, what, progress: log, env: GO_ENV });

function dirBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(full) : entry.isFile() ? statSync(full).size : 0;
  }
  return total;
}

async function buildPulumi(ctx: BuildContext): Promise<void> {
  const { force, log } = ctx;
  if (existsSync(paths.pulumi) && !force) return log(`reusing ${paths.pulumi}`);
  // Another worktree or CI run sharing the cache may be building it: wait, then reuse.
  return withLock(`build-pulumi-${PULUMI_VERSION}`, async () => {
    if (existsSync(paths.pulumi) && !force) return log(`reusing ${paths.pulumi} (built by another process)`);
    await buildPulumiLocked(ctx);
  }, { progress: log });
}

async function buildPulumiLocked(ctx: BuildContext): Promise<void> {
  const tmp = `${paths.pulumi}.tmp`;
  await go(
    ctx,
    ['build', '-v', '-tags', 'osusergo', '-ldflags', `-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}`, '-o', tmp, 'github.com/pulumi/pulumi/pkg/v3/cmd/pulumi'],
    join(WRAPPERS_DIR, 'pulumi'),
    'pulumi',
  );
  renameSync(tmp, paths.pulumi);
}

async function buildKubernetesProvider(ctx: BuildContext): Promise<void> {
  const { force, log } = ctx;
  if (existsSync(paths.kubernetesProvider) && !force) return log(`reusing ${paths.kubernetesProvider}`);
  return withLock(`build-pulumi-resource-kubernetes-${KUBERNETES_PROVIDER_VERSION}`, async () => {
    if (existsSync(paths.kubernetesProvider) && !force) return log(`reusing ${paths.kubernetesProvider} (built by another process)`);
    await buildKubernetesProviderLocked(ctx);
  }, { progress: log });
}

async function buildKubernetesProviderLocked(ctx: BuildContext): Promise<void> {
  const wrapper = join(WRAPPERS_DIR, 'pulumi-resource-kubernetes');
  const stage = join(paths.staging, `pulumi-resource-kubernetes-v${KUBERNETES_PROVIDER_VERSION}`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  for (const file of ['go.mod', 'go.sum', 'main.go', 'generate.go']) copyFileSync(join(wrapper, file), join(stage, file));
  // Only the provider module itself: `go build` fetches exactly the modules it compiles.
  await go(ctx, ['mod', 'download', KUBERNETES_PROVIDER_MODULE], stage, 'kubernetes provider: download');
  const moduleDir = (await go(ctx, ['list', '-m', '-f', '{{.Dir}}', KUBERNETES_PROVIDER_MODULE], stage, 'locate provider module')).trim();
  await go(
    ctx,
    ['run', 'generate.go', '-src', join(moduleDir, 'cmd', 'pulumi-resource-kubernetes'), '-out', stage, '-version', KUBERNETES_PROVIDER_VERSION],
    stage,
    'kubernetes provider: generate schema',
  );
  const tmp = `${paths.kubernetesProvider}.tmp`;
  await go(
    ctx,
    ['build', '-v', '-ldflags', `-s -w -X ${KUBERNETES_PROVIDER_MODULE}/pkg/version.Version=${KUBERNETES_PROVIDER_VERSION}`, '-o', tmp, '.'],
    stage,
    'kubernetes provider',
  );
  renameSync(tmp, paths.kubernetesProvider);
}

async function assembleRoot(): Promise<void> {
  const bin = join(paths.pulumiRoot, 'bin');
  mkdirSync(bin, { recursive: true });
  const link = join(bin, 'pulumi');
  rmSync(link, { force: true });
  symlinkSync(paths.pulumi, link);
  // The dynamic-provider shim runs `node …/@pulumi/pulumi/cmd/dynamic-provider` from the program dir.
  const sdkDir = join(createRequire(join(REPO_ROOT, 'package.json')).resolve('@pulumi/pulumi'), '..');
  const shim = join(bin, 'pulumi-resource-pulumi-nodejs');
  copyFileSync(join(sdkDir, 'pulumi-resource-pulumi-nodejs'), shim);
  chmodSync(shim, 0o755);
}

async function installPlugin({ force, log }: BuildContext): Promise<void> {
  const installed = join(paths.pulumiHome, 'plugins', `resource-kubernetes-v${KUBERNETES_PROVIDER_VERSION}`);
  if (existsSync(join(installed, 'pulumi-resource-kubernetes')) && !force) return log(`plugin already in ${installed}`);
  mkdirSync(paths.pulumiHome, { recursive: true });
  await execa(paths.pulumi, ['plugin', 'install', 'resource', 'kubernetes', KUBERNETES_PROVIDER_VERSION, '--file', paths.kubernetesProvider, '--reinstall'], {
    env: { PULUMI_HOME: paths.pulumiHome, PULUMI_SKIP_UPDATE_CHECK: 'true' },
    stdio: 'inherit',
  });
}

export interface EnsurePulumiToolsOptions {
  /** Rebuild even when the binaries exist. @default false */
  readonly force?: boolean;
  /** Receives one line per step and, while compiling, a line every 50 packages. @default a no-op */
  readonly progress?: (message: string) => void;
}

export interface PulumiToolsBuild {
  /** Wall seconds of each step, in order (a reused binary's step takes about 0 s). */
  readonly timings: ReadonlyArray<readonly [step: string, seconds: number]>;
  /** Bytes this call added to the Go module download cache. */
  readonly downloadedBytes: number;
}

/**
 * Ensures the Pulumi CLI, the Kubernetes provider, the Pulumi root and the installed plugin exist.
 * @throws Error carrying the failing `go` or `pulumi` command's output.
 */
export async function ensurePulumiTools(options: EnsurePulumiToolsOptions = {}): Promise<PulumiToolsBuild> {
  const ctx: BuildContext = { force: options.force ?? false, log: options.progress ?? (() => undefined) };
  const timings: Array<[string, number]> = [];
  const step = async (name: string, fn: (ctx: BuildContext) => Promise<void>): Promise<void> => {
    const started = Date.now();
    ctx.log(`${name} ...`);
    await fn(ctx);
    const seconds = (Date.now() - started) / 1000;
    timings.push([name, seconds]);
    ctx.log(`${name}: done in ${seconds.toFixed(0)} s`);
  };
  mkdirSync(paths.bin, { recursive: true });
  const downloadBefore = dirBytes(join(paths.gomodcache, 'cache', 'download'));
  await step(`pulumi ${PULUMI_VERSION}`, buildPulumi);
  await step(`pulumi-resource-kubernetes v${KUBERNETES_PROVIDER_VERSION}`, buildKubernetesProvider);
  await step('pulumi root + nodejs dynamic-provider shim', assembleRoot);
  await step('plugin install', installPlugin);
  return { timings, downloadedBytes: dirBytes(join(paths.gomodcache, 'cache', 'download')) - downloadBefore };
}
