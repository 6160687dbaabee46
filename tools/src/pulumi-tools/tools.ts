/**
 * Versions and cache locations of the Pulumi binaries this repo builds from the Go module
 * proxy (`npm run pulumi-tools`), and how the preview/up/destroy scripts find a Pulumi CLI.
 *
 * Lookup order (first hit wins), see docs/pulumi.md:
 * 1. `PULUMI_CLI` — path of a `pulumi` binary to use;
 * 2. `pulumi` on PATH — the user's own installation (plugins resolved the normal way);
 * 3. the binaries built here: `<cache>/pulumi-root/<version>/bin/pulumi`, with a private
 *    PULUMI_HOME holding the Kubernetes provider plugin, plugin downloads disabled.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot, goEnv } from '../process/index.js';

/** Pulumi CLI version built from `github.com/pulumi/pulumi/pkg/v3` (wrapper go/pulumi). */
export const PULUMI_VERSION = 'v3.216.0';
/** Kubernetes provider plugin version; must equal the pinned `@pulumi/kubernetes`. */
export const KUBERNETES_PROVIDER_VERSION = '4.25.0';
/** Go module of the Kubernetes provider (pseudo-version pinned in go/pulumi-resource-kubernetes/go.mod). */
export const KUBERNETES_PROVIDER_MODULE = 'github.com/pulumi/pulumi-kubernetes/provider/v4';

/** Repository root (tools/src/pulumi-tools is three levels down). */
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** Wrapper Go modules (go.mod + go.sum) kept in the repo. */
export const WRAPPERS_DIR = fileURLToPath(new URL('go', import.meta.url));

/** Every path the build writes (all outside the repo). */
export function toolPaths(root = cacheRoot()) {
  return {
    root,
    bin: join(root, 'bin'),
    /** `bin/pulumi-v3.x.y` */
    pulumi: join(root, 'bin', `pulumi-${PULUMI_VERSION}`),
    /** `bin/pulumi-resource-kubernetes-v4.x.y` */
    kubernetesProvider: join(root, 'bin', `pulumi-resource-kubernetes-v${KUBERNETES_PROVIDER_VERSION}`),
    /** A Pulumi "root" (`<dir>/bin/pulumi`) as the Automation API's PulumiCommand expects. */
    pulumiRoot: join(root, 'pulumi-root', PULUMI_VERSION),
    /** Private PULUMI_HOME holding the installed plugins. */
    pulumiHome: join(root, 'pulumi-home'),
    /** Project-specific Go module and build caches, shared with the test cluster's builds (see `goEnv`). */
    gomodcache: goEnv({}, { ...process.env, EXPENSE_TRACKER_CACHE: root }).GOMODCACHE!,
    /** Staging copies of wrapper modules that need generated files. */
    staging: join(root, 'src'),
  };
}

/** A Pulumi CLI to run, with the environment it needs. */
export interface PulumiInstallation {
  /** Directory containing `bin/pulumi` (PulumiCommand root), or undefined for a binary on PATH. */
  root: string | undefined;
  /** Absolute path of the binary. */
  binary: string;
  /** Where it was found. */
  source: 'PULUMI_CLI' | 'PATH' | 'built';
  /** Extra environment (PULUMI_HOME etc.) for the built binaries. */
  env: Record<string, string>;
}

/** Thrown when no Pulumi CLI is available; the message says how to get one. */
export class PulumiNotFoundError extends Error {
  constructor() {
    super(
      'Pulumi CLI not found: no PULUMI_CLI, no `pulumi` on PATH, and no binaries built by `npm run pulumi-tools`.\n' +
        '  Install it: https://www.pulumi.com/docs/iac/download-install/  (curl -fsSL https://get.pulumi.com | sh)\n' +
        '  or build it from the Go module proxy (about 30-60 min cold):  npm run pulumi-tools',
    );
    this.name = 'PulumiNotFoundError';
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Environment for the binaries built here: private PULUMI_HOME, no update checks, no plugin downloads. */
export function builtToolsEnv(paths = toolPaths()): Record<string, string> {
  return {
    PULUMI_HOME: paths.pulumiHome,
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
    PATH: `${join(paths.pulumiRoot, 'bin')}${delimiter}${process.env.PATH ?? ''}`,
  };
}

/**
 * Finds a Pulumi CLI in the documented order.
 * @throws PulumiNotFoundError when there is none.
 */
export function locatePulumi(): PulumiInstallation {
  const explicit = process.env.PULUMI_CLI;
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`PULUMI_CLI=${explicit}: no such file`);
    return { root: undefined, binary: explicit, source: 'PULUMI_CLI', env: {} };
  }
  const fromPath = onPath('pulumi');
  if (fromPath) return { root: undefined, binary: fromPath, source: 'PATH', env: {} };
  const paths = toolPaths();
  const built = join(paths.pulumiRoot, 'bin', 'pulumi');
  if (existsSync(built)) return { root: paths.pulumiRoot, binary: built, source: 'built', env: builtToolsEnv(paths) };
  throw new PulumiNotFoundError();
}

/** `pulumi version` of a binary (e.g. `v3.216.0`). */
export async function pulumiVersion(binary: string): Promise<string> {
  const { stdout } = await execa(binary, ['version'], { env: { PULUMI_SKIP_UPDATE_CHECK: 'true' } });
  return stdout.trim();
}
