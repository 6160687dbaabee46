/** The `minikube` command lines of the MinikubeCluster dynamic provider and its missing-CLI error. */
import { describe, expect, it } from 'vitest';
import { startCommand, startMinikube, type MinikubeClusterArgs } from './minikube-operations.js';

const args: MinikubeClusterArgs = {
  profile: 'minikube',
  cpus: 4,
  memoryMiB: 8192,
  insecureRegistries: ['expense-registry:5000'],
  addons: ['ingress'],
  deleteOnDestroy: false,
};

describe('minikube operations', () => {
  it('starts with CPUs, memory in MiB, the insecure registry and the ingress addon', () => {
    expect(startCommand(args)).toEqual(['start', '--profile=minikube', '--cpus=4', '--memory=8192mb', '--insecure-registry=expense-registry:5000', '--addons=ingress']);
  });

  it('explains a missing minikube CLI', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(startMinikube(args)).rejects.toThrow(/minikube not found on PATH: install it .* or set expense-tracker:minikube.start to false/);
    } finally {
      process.env.PATH = path;
    }
  });
});
