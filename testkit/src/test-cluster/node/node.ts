/**
 * The real node's processes and their cleanup: containerd, the kubelet, kube-proxy and kube-router
 * (network policy controller) run inside
 * the cluster's network namespace (`nsenter --net`), each its own process group, with every file
 * under `<cluster dir>/node`; pod cgroups under the per-cluster cgroup root `/etk-node-<slot>`.
 *
 * `stopNode` leaves nothing: it removes every pod through the CRI (sandbox network namespaces,
 * CNI allocations), stops the processes, kills what is left in the cluster's cgroups and any
 * containerd shim of this cluster's socket, unmounts everything under the cluster directory,
 * removes the cgroups, deletes the network namespace (bridge, routes, nftables tables, net.*
 * sysctls go with it) and releases the slot (the last cluster restores the global sysctls).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { writeKubeconfig } from '../pki.js';
import { launchDetached, pollUntil, stopProcesses, type ProcessRecord } from '@expense-tracker/tools/process/index';
import { cniConflist, containerdConfig, kubeletArgs, kubeletConfiguration, kubeProxyArgs, kubeRouterArgs, nodePaths, nodeResolvConf, registryHostsFiles, REGISTRY_PORT, type NodeNetwork, type NodePaths } from './config.js';
import { releaseSlot, removeNetwork } from './host.js';
import { componentImage } from './images.js';

/** What `stopNode` needs to find everything the node created (kept in state.json). */
export interface NodeState {
  network: NodeNetwork;
  cgroupRoot: string;
  /** crictl binary (same version as the kubelet's CRI). */
  crictl: string;
}

/** cgroup v1 hierarchies and the v2 one mounted on this host (`/sys/fs/cgroup/<name>`). */
function cgroupMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => {
      const sep = f.indexOf('-');
      return sep > 0 && (f[sep + 1] === 'cgroup' || f[sep + 1] === 'cgroup2');
    })
    .map((f) => f[4]!)
    .filter((p, i, all) => all.indexOf(p) === i);
}

/**
 * Creates `cgroupRoot` in every hierarchy (the kubelet refuses a cgroup root that does not
 * exist); in the cpuset hierarchy it inherits the parent's CPUs and memory nodes, without which
 * no task can join it.
 */
export function createCgroupRoot(cgroupRoot: string): void {
  for (const mount of cgroupMounts()) {
    const dir = join(mount, cgroupRoot);
    mkdirSync(dir, { recursive: true });
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const own = join(dir, file);
      if (existsSync(own) && readFileSync(own, 'utf8').trim() === '') writeFileSync(own, readFileSync(join(mount, file), 'utf8'));
    }
  }
}

/** Every directory of `cgroupRoot` in every hierarchy, deepest first. */
function cgroupDirs(cgroupRoot: string): string[] {
  const walk = (dir: string): string[] => {
    if (!existsSync(dir)) return [];
    const children = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => walk(join(dir, e.name)));
    return [...children, dir];
  };
  return cgroupMounts().flatMap((m) => walk(join(m, cgroupRoot)));
}

/** PIDs in the cluster's cgroups (containers and their sandboxes). */
function cgroupPids(cgroupRoot: string): number[] {
  const pids = new Set<number>();
  for (const dir of cgroupDirs(cgroupRoot)) {
    try {
      for (const p of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
    } catch {
      // removed meanwhile
    }
  }
  return [...pids];
}

/** PIDs of containerd shims serving this cluster's containerd (their command line names its socket). */
function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(join('/proc', entry, 'cmdline'), 'utf8').split('\0');
      if (args[0]?.includes('containerd-shim') && args.includes(socket)) pids.push(Number(entry));
    } catch {
      // exited
    }
  }
  return pids;
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export interface NodeFiles {
  /** Client certificates and the CA for the node's kubeconfigs. */
  caCert: string;
  server: string;
  kubeletClient: { cert: string; key: string };
  kubeletServing: { cert: string; key: string };
  kubeProxyClient: { cert: string; key: string };
  kubeRouterClient: { cert: string; key: string };
}


/** Writes every configuration file of the node under `<clusterDir>/node`. */
export function writeNodeFiles(clusterDir: string, network: NodeNetwork, cgroupRoot: string, files: NodeFiles): NodePaths {
  const paths = nodePaths(clusterDir);
  for (const d of [paths.root, paths.containerdRoot, paths.containerdState, paths.registryHosts, paths.runcRoot, paths.cniConfDir, paths.cniIpamDir, paths.kubeletRoot, paths.podLogs, paths.localVolumes, join(paths.root, 'containerd')]) {
    mkdirSync(d, { recursive: true });
  }
  writeFileSync(paths.containerdConfig, containerdConfig(paths, componentImage('pause')));
  for (const [file, content] of registryHostsFiles(`http://${network.hostIP}:${REGISTRY_PORT}`)) {
    mkdirSync(join(paths.registryHosts, file, '..'), { recursive: true });
    writeFileSync(join(paths.registryHosts, file), content);
  }
  writeFileSync(join(paths.cniConfDir, '10-expense-tracker.conflist'), cniConflist(network, paths.cniIpamDir));
  writeFileSync(paths.resolvConf, nodeResolvConf());
  writeFileSync(paths.kubeletConfig, stringify(kubeletConfiguration({ network, paths, caCert: files.caCert, servingCert: files.kubeletServing, cgroupRoot })));
  writeKubeconfig(paths.kubeletKubeconfig, files.server, files.caCert, 'kubelet', files.kubeletClient);
  writeKubeconfig(paths.kubeProxyKubeconfig, files.server, files.caCert, 'kube-proxy', files.kubeProxyClient);
  writeKubeconfig(paths.kubeRouterKubeconfig, files.server, files.caCert, 'kube-router', files.kubeRouterClient);
  return paths;
}

type Launch = (name: string, binary: string, args: string[], prefix?: string[]) => ProcessRecord;

/** `nsenter` prefix that runs a program in the node's network namespace (nsenter execs it: same PID). */
export const inNodeNetwork = (network: NodeNetwork): string[] => ['nsenter', `--net=/run/netns/${network.netns}`, '--'];

/**
 * Starts containerd and waits for its socket, then the kubelet, then kube-proxy.
 * @returns the three process records (already in state via `launch`).
 * @throws Error with the log tail when containerd does not answer in 60 s.
 */
export async function startNodeProcesses(launch: Launch, paths: NodePaths, network: NodeNetwork, cgroupRoot: string, binaries: { kubelet: string; kubeProxy: string; kubeRouter: string; crictl: string }): Promise<ProcessRecord[]> {
  const prefix = inNodeNetwork(network);
  const containerd = launch('containerd', '/usr/bin/containerd', ['--config', paths.containerdConfig], prefix);
  const up = await pollUntil(async () => (await execa(binaries.crictl, ['--runtime-endpoint', `unix://${paths.containerdSocket}`, 'version'], { reject: false, timeout: 5000 })).exitCode === 0, { timeoutMs: 60_000, intervalMs: 200 });
  if (!up) throw new Error(`containerd did not answer on ${paths.containerdSocket} within 60 s; see ${containerd.log}`);
  createCgroupRoot(cgroupRoot);
  const kubelet = launch('kubelet', binaries.kubelet, kubeletArgs(paths, network), prefix);
  const kubeProxy = launch('kube-proxy', binaries.kubeProxy, kubeProxyArgs(paths, network), prefix);
  const kubeRouter = launch('kube-router', binaries.kubeRouter, kubeRouterArgs(paths.kubeRouterKubeconfig), prefix);
  return [containerd, kubelet, kubeProxy, kubeRouter];
}

/**
 * Removes every pod sandbox through the CRI (stops containers, CNI DEL, removes the sandboxes'
 * network namespaces), while containerd still runs. Best effort: returns false when containerd
 * does not answer.
 */
export async function removeAllPods(node: NodeState, paths: NodePaths): Promise<boolean> {
  if (!existsSync(paths.containerdSocket)) return false;
  const r = await execa(node.crictl, ['--runtime-endpoint', `unix://${paths.containerdSocket}`, '--timeout', '60s', 'rmp', '--all', '--force'], { reject: false, timeout: 120_000 });
  return r.exitCode === 0;
}

/**
 * Tears the node down (see module docs). Call after the kubelet and kube-proxy have stopped and
 * with `containerdRecords` still running, or with nothing running at all (cleanup after a crash).
 * Idempotent.
 * @returns what was left and removed, for the caller's report.
 */
export async function stopNode(clusterDir: string, node: NodeState, nodeRecords: ProcessRecord[]): Promise<{ killed: number; unmounted: number; cgroups: number; sysctlsRestored: string[] }> {
  const paths = nodePaths(clusterDir);
  const kubelet = nodeRecords.filter((r) => r.name !== 'containerd');
  const containerd = nodeRecords.filter((r) => r.name === 'containerd');
  await stopProcesses(kubelet, 10_000);
  await removeAllPods(node, paths);
  await stopProcesses(containerd, 15_000);
  // Whatever survived: container processes in our cgroups, shims of our socket.
  let killed = 0;
  for (let round = 0; round < 5; round += 1) {
    const pids = [...cgroupPids(node.cgroupRoot), ...shimPids(paths.containerdSocket)];
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed += 1;
      } catch {
        // gone
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  let unmounted = 0;
  for (const point of mountsUnder(clusterDir)) {
    const r = await execa('umount', ['-l', point], { reject: false });
    if (r.exitCode === 0) unmounted += 1;
  }
  let cgroups = 0;
  for (const dir of cgroupDirs(node.cgroupRoot)) {
    try {
      rmdirSync(dir);
      cgroups += 1;
    } catch {
      // busy or gone; reported by the leftovers check
    }
  }
  await removeNetwork(node.network);
  const restored = await releaseSlot(node.network.slot);
  return { killed, unmounted, cgroups, sysctlsRestored: Object.keys(restored) };
}

/** What a stopped node left behind (empty when clean): processes, mounts, cgroups, network. */
export async function nodeLeftovers(clusterDir: string, node: NodeState): Promise<string[]> {
  const left: string[] = [];
  const pids = [...cgroupPids(node.cgroupRoot), ...shimPids(nodePaths(clusterDir).containerdSocket)];
  if (pids.length) left.push(`processes: ${pids.join(' ')}`);
  const mounts = mountsUnder(clusterDir);
  if (mounts.length) left.push(`mounts: ${mounts.join(' ')}`);
  const cgroups = cgroupDirs(node.cgroupRoot);
  if (cgroups.length) left.push(`cgroups: ${cgroups.join(' ')}`);
  const ns = await execa('ip', ['netns', 'list'], { reject: false });
  if (String(ns.stdout).split('\n').some((l) => l.split(' ')[0] === node.network.netns)) left.push(`netns ${node.network.netns}`);
  if ((await execa('ip', ['link', 'show', node.network.hostVeth], { reject: false })).exitCode === 0) left.push(`link ${node.network.hostVeth}`);
  const routes = await execa('ip', ['route', 'show', node.network.podCIDR], { reject: false });
  if (String(routes.stdout).trim()) left.push(`route ${node.network.podCIDR}`);
  return left;
}
