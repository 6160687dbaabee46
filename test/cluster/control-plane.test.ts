/**
 * The `test-cluster` CLI end to end: `up --no-real-node` starts a control plane that reports the
 * pinned versions (proving the version ldflags), `env` prints a usable KUBECONFIG, and `down`
 * leaves no process or listening port behind. Also its usage errors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBinaries, type BinaryPaths } from '@expense-tracker/testkit/test-cluster/build';
import { readState, stopCluster, type ClusterState } from '@expense-tracker/testkit/test-cluster/cluster';
import { kubectlFor } from '@expense-tracker/testkit/test-cluster/kubectl';
import { ETCD_VERSION, KUBERNETES_VERSION } from '@expense-tracker/testkit/test-cluster/versions';
import { ROOT } from './support.js';

const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const cli = (args: string[]) => execa(TSX, ['testkit/src/test-cluster/cli.ts', ...args], { cwd: ROOT, reject: false });

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

describe('test-cluster CLI', () => {
  let work: string;
  let dir: string;
  let binaries: BinaryPaths;

  beforeAll(async () => {
    ({ paths: binaries } = await ensureBinaries({ roles: 'control-plane' }));
    work = mkdtempSync(join(tmpdir(), 'expense-tracker-cli-test-'));
    dir = join(work, 'cluster');
  });
  afterAll(async () => {
    if (dir) await stopCluster(dir);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('rejects bad usage with exit code 2 and names the problem', async () => {
    const none = await cli([]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('expected exactly one command');
    const unknown = await cli(['start']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('unknown command "start"');
    const nodes = await cli(['up', '--fake-nodes', 'many']);
    expect(nodes.exitCode).toBe(2);
    expect(nodes.stderr).toContain('--fake-nodes must be an integer from 0 to 50');
    const env = await cli(['env', '--dir', join(work, 'nowhere')]);
    expect(env.exitCode).toBe(1);
    expect(env.stderr).toContain('state.json missing');
  });

  it('binaries report the pinned versions', async () => {
    expect((await execa(binaries['kube-apiserver'], ['--version'])).stdout).toBe(`Kubernetes ${KUBERNETES_VERSION}`);
    expect((await execa(binaries.etcd, ['--version'])).stdout).toContain(`etcd Version: ${ETCD_VERSION.slice(1)}`);
  });

  it('up --no-real-node -> env -> down: versions over the API, then nothing left running', async () => {
    const up = await cli(['up', '--dir', dir, '--no-real-node', '--fake-nodes', '2']);
    expect(up.exitCode, up.stderr).toBe(0);
    const env = await cli(['env', '--dir', dir]);
    expect(env.stdout).toBe(up.stdout);
    const kubeconfig = /^export KUBECONFIG=(.+)$/m.exec(env.stdout)?.[1];
    expect(kubeconfig).toBe(join(dir, 'kubeconfig'));

    const kubectl = kubectlFor(join(dir, 'bin', 'kubectl'), kubeconfig!);
    const version = JSON.parse((await kubectl.run(['version', '-o', 'json'])).stdout);
    expect(version.serverVersion.gitVersion).toBe(KUBERNETES_VERSION);
    expect(version.clientVersion.gitVersion).toBe(KUBERNETES_VERSION);
    const nodes = await kubectl.json<{ items: any[] }>(['get', 'nodes']);
    expect(nodes.items.map((n) => n.metadata.name)).toEqual(['kwok-node-0', 'kwok-node-1']);
    const classes = await kubectl.json<{ items: any[] }>(['get', 'storageclass']);
    expect(classes.items.map((c) => c.metadata.name).sort()).toEqual(['ibmc-vpc-block-10iops-tier', 'ibmc-vpc-file-dp2', 'standard']);

    const state: ClusterState = readState(dir);
    expect(state.processes.map((p) => p.name)).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']);
    const down = await cli(['down', '--dir', dir]);
    expect(down.exitCode, down.stderr).toBe(0);
    for (const p of state.processes) expect(running(p.pid), p.name).toBe(false);
    expect(await portOpen(state.ports.apiserver)).toBe(false);
    expect(await portOpen(state.ports.etcdClient)).toBe(false);
  });
});

/** Gone, or at most a zombie awaiting its reaper (empty cmdline): nothing is executing. */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').length > 0;
  } catch {
    return false;
  }
}
