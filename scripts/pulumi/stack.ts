/**
 * Opens a stack of the `expense-tracker` Pulumi project through the Automation API
 * (LocalWorkspace, inline program = `stacks/program.ts` run in this process).
 *
 * Inline programs let the Pulumi CLI talk to this process's language runtime (`--client`),
 * so no `pulumi-language-nodejs` plugin is needed; the TypeScript program runs through
 * whatever loads this file (tsx).
 */
import type { Stack } from '@pulumi/pulumi/automation/index.js';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { locatePulumi, REPO_ROOT, type PulumiInstallation } from '@expense-tracker/tools/pulumi-tools/tools';

/** Options of {@link openStack}. */
export interface OpenStackOptions {
  /** Stack name, e.g. `local`, `ibm` or `ci`: a `Pulumi.<stack>.yaml` must exist in `workDir`. */
  stack: string;
  /** Directory holding Pulumi.yaml and Pulumi.<stack>.yaml. @default the repository root */
  workDir?: string;
  /**
   * State backend URL.
   * @default $PULUMI_BACKEND_URL, else `file://~/.pulumi-expense-tracker` (local backend)
   */
  backendUrl?: string;
  /** Extra environment for the CLI (e.g. PULUMI_CONFIG_PASSPHRASE in tests). */
  env?: Record<string, string>;
  /** A Pulumi CLI to use instead of {@link locatePulumi}'s choice. */
  installation?: PulumiInstallation;
}

/** The opened stack and the CLI it runs. */
export interface OpenedStack {
  stack: Stack;
  installation: PulumiInstallation;
  backendUrl: string;
}

/**
 * Selects (or creates, with the passphrase secrets provider) the stack.
 * @throws Error for an unknown stack or a missing passphrase; PulumiNotFoundError without a CLI.
 */
export async function openStack(options: OpenStackOptions): Promise<OpenedStack> {
  const workDir = options.workDir ?? REPO_ROOT;
  // Any stack with a settings file works: the program reads its `target` and `environment`.
  if (!/^[A-Za-z0-9_.-]+$/.test(options.stack) || !existsSync(join(workDir, `Pulumi.${options.stack}.yaml`))) {
    throw new Error(`--stack ${options.stack}: no Pulumi.${options.stack}.yaml in ${workDir} (it sets expense-tracker:target and expense-tracker:environment)`);
  }
  const installation = options.installation ?? locatePulumi();
  const env: Record<string, string> = { ...options.env };
  const passphraseSet = ['PULUMI_CONFIG_PASSPHRASE', 'PULUMI_CONFIG_PASSPHRASE_FILE'].some((k) => env[k] !== undefined || process.env[k] !== undefined);
  if (!passphraseSet) {
    throw new Error('PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) is not set: the stacks encrypt their secrets with a passphrase');
  }
  const backendUrl = options.backendUrl ?? process.env.PULUMI_BACKEND_URL ?? `file://${join(homedir(), '.pulumi-expense-tracker')}`;
  // The file backend does not create its own directory.
  if (backendUrl.startsWith('file://')) await mkdir(backendUrl.slice('file://'.length), { recursive: true });
  // The Automation API and the program (Pulumi SDKs, the charts: seconds of module loading) load
  // only once a CLI and a passphrase are there, so those errors come at once.
  const { LocalWorkspace, PulumiCommand } = await import('@pulumi/pulumi/automation/index.js');
  const { program } = await import('../../stacks/program.js');
  const pulumiCommand = await PulumiCommand.get({ root: installation.root ?? join(installation.binary, '..', '..'), skipVersionCheck: true });
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: options.stack, projectName: 'expense-tracker', program: () => program() },
    {
      workDir,
      pulumiCommand,
      secretsProvider: 'passphrase',
      envVars: {
        ...installation.env,
        PULUMI_BACKEND_URL: backendUrl,
        PULUMI_SKIP_UPDATE_CHECK: 'true',
        // Dynamic providers (IKS, ICR, minikube) run in a separate node process that must load TypeScript too.
        NODE_OPTIONS: [process.env.NODE_OPTIONS, '--import tsx'].filter(Boolean).join(' '),
        ...env,
      },
    },
  );
  return { stack, installation, backendUrl };
}
