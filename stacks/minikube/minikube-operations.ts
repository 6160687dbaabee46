/**
 * `minikube` CLI operations behind the `MinikubeCluster` dynamic provider (execa; no shell).
 * Kept free of Pulumi imports; the dynamic provider imports this module lazily.
 */
import { execa } from 'execa';

/** Inputs of a minikube profile the stack starts itself. */
export interface MinikubeClusterArgs {
  /** minikube profile (`-p`), also the kubeconfig context name minikube writes. */
  profile: string;
  /** vCPUs for the node. */
  cpus: number;
  /** Memory for the node in MiB. */
  memoryMiB: number;
  /** Registries the node's container runtime may pull from over plain HTTP (`host:port`). */
  insecureRegistries: string[];
  /** Addons to enable after start, e.g. `ingress`. */
  addons: string[];
  /** Run `minikube delete` on `pulumi destroy` (otherwise `minikube stop`). */
  deleteOnDestroy: boolean;
}

/** Command line of `minikube start` for the args (exported for tests). */
export function startCommand(args: MinikubeClusterArgs): string[] {
  return [
    'start',
    `--profile=${args.profile}`,
    `--cpus=${args.cpus}`,
    `--memory=${args.memoryMiB}mb`,
    ...args.insecureRegistries.map((r) => `--insecure-registry=${r}`),
    ...args.addons.map((a) => `--addons=${a}`),
  ];
}

async function minikube(argv: string[]): Promise<string> {
  try {
    const { stdout } = await execa('minikube', argv, { stdin: 'ignore' });
    return stdout;
  } catch (error) {
    const e = error as { code?: string; shortMessage?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('minikube not found on PATH: install it (https://minikube.sigs.k8s.io) or set expense-tracker:minikube.start to false');
    throw new Error(`${e.shortMessage ?? 'minikube failed'}${e.stderr ? `\n${e.stderr}` : ''}`);
  }
}

/** Starts (or resumes) the profile and enables its addons; idempotent. */
export async function startMinikube(args: MinikubeClusterArgs): Promise<{ profile: string; ip: string }> {
  await minikube(startCommand(args));
  for (const addon of args.addons) await minikube(['addons', 'enable', addon, `--profile=${args.profile}`]);
  const ip = (await minikube(['ip', `--profile=${args.profile}`])).trim();
  return { profile: args.profile, ip };
}

/** Whether the profile exists and its host is running. */
export async function minikubeRunning(profile: string): Promise<boolean> {
  try {
    const out = await execa('minikube', ['status', `--profile=${profile}`, '--format={{.Host}}'], { stdin: 'ignore', reject: false });
    return out.stdout.trim() === 'Running';
  } catch {
    return false;
  }
}

/** Stops or deletes the profile. */
export async function stopMinikube(args: MinikubeClusterArgs): Promise<void> {
  await minikube([args.deleteOnDestroy ? 'delete' : 'stop', `--profile=${args.profile}`]);
}
