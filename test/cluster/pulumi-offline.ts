/**
 * The `ci` stack run fully offline with the binaries built by `npm run pulumi-tools`: a temp
 * copy of the project (so config never touches the repo), a file backend and a PULUMI_HOME in
 * that temp dir, the Kubernetes provider installed there from file, passphrase secrets, no
 * update checks, no plugin downloads. Used by test/cluster/pulumi.test.ts and bench/pulumi-deploy.ts.
 */
import type { Stack } from '@pulumi/pulumi/automation/index.js';
import { execa } from 'execa';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePulumiTools } from '@expense-tracker/tools/pulumi-tools/build';
import { builtToolsEnv, KUBERNETES_PROVIDER_VERSION, REPO_ROOT, toolPaths, type PulumiInstallation } from '@expense-tracker/tools/pulumi-tools/tools';
import type { Kubectl } from '@expense-tracker/testkit/test-cluster/kubectl';
import { openStack } from '../../scripts/pulumi/stack.js';

/** Options of {@link openOfflineCiStack}. */
export interface OfflineCiStackOptions {
  /** kubeconfig path of the target cluster. */
  kubeconfig: string;
  /** Image reference `repository:tag`. */
  image: string;
  /** Secret config values (`postgresPassword`, `redisPassword`, `sessionSecret`, `sendgridApiKey`). */
  secrets: Record<string, string>;
  progress?: (message: string) => void;
}

/** The opened stack and where its files live. */
export interface OfflineCiStack {
  stack: Stack;
  /** Temp dir holding `project/`, `state/` (file backend) and `pulumi-home/`. */
  dir: string;
  stateDir: string;
  /** Removes the temp dir (call after destroy). */
  cleanup(): void;
}

/**
 * Prepares and opens the `ci` stack offline. Builds the Pulumi binaries first when the cache lacks
 * them (`npm run pulumi-tools`; waits for a build another process holds the lock of, such as CI's
 * background step).
 * @throws Error from the build when a binary cannot be built.
 */
export async function openOfflineCiStack(options: OfflineCiStackOptions): Promise<OfflineCiStack> {
  const paths = toolPaths();
  const pulumiBinary = join(paths.pulumiRoot, 'bin', 'pulumi');
  await ensurePulumiTools({ progress: (m) => options.progress?.(`[pulumi-tools] ${m}`) });
  const dir = mkdtempSync(join(tmpdir(), 'pulumi-ci-stack-'));
  const stateDir = join(dir, 'state');
  const pulumiHome = join(dir, 'pulumi-home');
  const workDir = join(dir, 'project');
  for (const d of [stateDir, pulumiHome, workDir]) mkdirSync(d, { recursive: true });
  try {
    copyFileSync(join(REPO_ROOT, 'Pulumi.yaml'), join(workDir, 'Pulumi.yaml'));
    copyFileSync(join(REPO_ROOT, 'Pulumi.ci.yaml'), join(workDir, 'Pulumi.ci.yaml'));
    // The CLI checks that Pulumi.yaml's `main` exists even for inline programs.
    symlinkSync(join(REPO_ROOT, 'stacks'), join(workDir, 'stacks'));
    const env = { ...builtToolsEnv(paths), PULUMI_HOME: pulumiHome, PULUMI_CONFIG_PASSPHRASE: 'offline-test-passphrase' };
    options.progress?.(`installing the kubernetes provider plugin ${KUBERNETES_PROVIDER_VERSION} into ${pulumiHome}`);
    await execa(pulumiBinary, ['plugin', 'install', 'resource', 'kubernetes', KUBERNETES_PROVIDER_VERSION, '--file', paths.kubernetesProvider], { env });
    const installation: PulumiInstallation = { root: paths.pulumiRoot, binary: pulumiBinary, source: 'built', env };
    const { stack } = await openStack({ stack: 'ci', workDir, backendUrl: `file://${stateDir}`, env, installation });
    await stack.setConfig('image', { value: options.image });
    await stack.setConfig('kubeconfig', { value: options.kubeconfig });
    for (const [key, value] of Object.entries(options.secrets)) await stack.setConfig(key, { value, secret: true });
    return { stack, dir, stateDir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Plays an ingress controller's status writer: sets `status.loadBalancer.ingress` to
 * 127.0.0.1 on every Ingress lacking it, polling every 500 ms, until the returned function is
 * called. Pulumi's Ingress await logic waits for that status (minikube's ingress addon and
 * IKS's ALBs write it in real clusters).
 */
export function startIngressStatusWriter(kubectl: Kubectl): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      const list = await kubectl.json<{ items?: any[] }>(['get', 'ingresses', '-A'], { reject: false }).catch(() => ({ items: [] }));
      for (const ing of list.items ?? []) {
        if (ing.status?.loadBalancer?.ingress?.length) continue;
        await kubectl.run(
          ['patch', 'ingress', ing.metadata.name, '-n', ing.metadata.namespace, '--subresource=status', '--type=merge', '-p', '{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}}'],
          { reject: false },
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}
