/**
 * Host state of real-node clusters, safe when several clusters start and stop at the same time.
 *
 * Each cluster's node side runs in its own network namespace joined to the host by a veth pair
 * (addresses from its slot, see `nodeNetwork`), so its bridge, routes, nftables tables and net.*
 * sysctls belong to that namespace and vanish with it. What stays host-wide is kept in
 * `/run/expense-tracker-test-cluster` (tmpfs: gone after a reboot, like the state it describes;
 * `EXPENSE_TRACKER_RUN_DIR` moves it) under one lock:
 * - `slots/<n>.json`: which cluster directory holds slot n;
 * - `sysctls.json`: the values of the global sysctls the kubelet changes, saved when the first
 *   cluster of an overlapping group takes a slot and written back when the last one releases its
 *   slot (reference counted by the slot files).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { withLock } from '@expense-tracker/tools/process/index';
import { nodeNetwork, type NodeNetwork } from './config.js';

/** Global (not per network namespace) sysctls the kubelet sets on start (pkg/kubelet/cm `setupKernelTunables`). */
export const GLOBAL_SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
] as const;

export const hostStateDir = (): string => process.env.EXPENSE_TRACKER_RUN_DIR ?? '/run/expense-tracker-test-cluster';
const slotsDir = () => join(hostStateDir(), 'slots');
const sysctlsFile = () => join(hostStateDir(), 'sysctls.json');

interface SlotRecord {
  dir: string;
  pid: number;
  created: string;
}

const withHostLock = <T>(fn: () => Promise<T>) => {
  mkdirSync(hostStateDir(), { recursive: true, mode: 0o700 });
  return withLock('host', fn, { dir: hostStateDir(), waitMs: 600_000 });
};

function readSlots(): Map<number, SlotRecord> {
  const slots = new Map<number, SlotRecord>();
  if (!existsSync(slotsDir())) return slots;
  for (const f of readdirSync(slotsDir())) {
    const m = /^(\d+)\.json$/.exec(f);
    if (!m) continue;
    try {
      slots.set(Number(m[1]), JSON.parse(readFileSync(join(slotsDir(), f), 'utf8')) as SlotRecord);
    } catch {
      // half-written by a killed process: treated as taken until its directory is gone
      slots.set(Number(m[1]), { dir: '', pid: 0, created: '' });
    }
  }
  return slots;
}

function readSysctl(name: string): string {
  return readFileSync(join('/proc/sys', name), 'utf8').trim();
}

function writeSysctl(name: string, value: string): void {
  writeFileSync(join('/proc/sys', name), `${value}\n`);
}

/**
 * Takes the lowest free slot for the cluster in `dir` (a slot whose directory no longer exists is
 * free again, after its leftovers are removed). Saves the global sysctls when no other cluster
 * holds a slot.
 * @throws Error when all 250 slots are taken.
 */
export async function acquireSlot(dir: string): Promise<NodeNetwork> {
  return withHostLock(async () => {
    const slots = readSlots();
    for (const [slot, record] of slots) {
      if (record.dir && !existsSync(record.dir)) {
        await removeNetwork(nodeNetwork(slot));
        rmSync(join(slotsDir(), `${slot}.json`), { force: true });
        slots.delete(slot);
      }
    }
    if (slots.size === 0) {
      const saved = Object.fromEntries(GLOBAL_SYSCTLS.map((n) => [n, readSysctl(n)]));
      if (!existsSync(sysctlsFile())) writeFileSync(sysctlsFile(), `${JSON.stringify(saved, null, 2)}\n`);
    }
    let slot = 1;
    while (slots.has(slot)) slot += 1;
    if (slot > 250) throw new Error('no free node network slot: 250 real-node clusters hold one (see /run/expense-tracker-test-cluster/slots)');
    mkdirSync(slotsDir(), { recursive: true });
    const record: SlotRecord = { dir, pid: process.pid, created: new Date().toISOString() };
    writeFileSync(join(slotsDir(), `${slot}.json`), `${JSON.stringify(record)}\n`);
    return nodeNetwork(slot);
  });
}

/**
 * Releases `slot` (idempotent). When no other cluster holds a slot, writes the saved global
 * sysctls back and forgets them.
 * @returns the sysctls written back (empty when other clusters still run).
 */
export async function releaseSlot(slot: number): Promise<Record<string, string>> {
  return withHostLock(async () => {
    rmSync(join(slotsDir(), `${slot}.json`), { force: true });
    if (readSlots().size > 0 || !existsSync(sysctlsFile())) return {};
    const saved = JSON.parse(readFileSync(sysctlsFile(), 'utf8')) as Record<string, string>;
    for (const [name, value] of Object.entries(saved)) if (readSysctl(name) !== value) writeSysctl(name, value);
    rmSync(sysctlsFile(), { force: true });
    return saved;
  });
}

/** The global sysctls' current values. */
export function globalSysctls(): Record<string, string> {
  return Object.fromEntries(GLOBAL_SYSCTLS.map((n) => [n, readSysctl(n)]));
}

async function ip(args: string[], reject = true): Promise<void> {
  const r = await execa('ip', args, { reject: false });
  if (reject && r.exitCode !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

/** Runs `command` inside the node's network namespace. */
export function inNetns(network: NodeNetwork, command: string[], options: { reject?: boolean } = {}) {
  return execa('ip', ['netns', 'exec', network.netns, ...command], { reject: options.reject ?? true });
}

/** Writes a sysctl inside the node's network namespace (`net.*` sysctls are per namespace). */
async function netnsSysctl(network: NodeNetwork, name: string, value: string): Promise<void> {
  await inNetns(network, ['sh', '-c', `echo ${value} > /proc/sys/${name}`]);
}

/**
 * Creates the node's network namespace: veth pair to the host (host end `hostIP/30`), the CNI
 * bridge with the node IP (it must exist before the kubelet starts), a default route to the host,
 * forwarding and bridge netfilter (Service traffic between pods on one bridge must pass
 * kube-proxy's and the policy controller's rules) inside the namespace, and a host route to the
 * pod network through the veth pair. Removes leftovers of the same slot first.
 * @throws Error naming the failed `ip` command.
 */
export async function createNetwork(network: NodeNetwork): Promise<void> {
  await removeNetwork(network);
  await ip(['netns', 'add', network.netns]);
  await ip(['link', 'add', network.hostVeth, 'type', 'veth', 'peer', 'name', network.nodeVeth, 'netns', network.netns]);
  await ip(['addr', 'add', `${network.hostIP}/${network.vethPrefix}`, 'dev', network.hostVeth]);
  await ip(['link', 'set', network.hostVeth, 'up']);
  const n = (args: string[]) => ip(['-n', network.netns, ...args]);
  await n(['link', 'set', 'lo', 'up']);
  await n(['addr', 'add', `${network.nodeVethIP}/${network.vethPrefix}`, 'dev', network.nodeVeth]);
  await n(['link', 'set', network.nodeVeth, 'up']);
  await n(['link', 'add', network.bridge, 'type', 'bridge']);
  await n(['addr', 'add', `${network.nodeIP}/24`, 'dev', network.bridge]);
  await n(['link', 'set', network.bridge, 'up']);
  await n(['route', 'add', 'default', 'via', network.hostIP]);
  await netnsSysctl(network, 'net/ipv4/ip_forward', '1');
  await netnsSysctl(network, 'net/bridge/bridge-nf-call-iptables', '1');
  await ip(['route', 'add', network.podCIDR, 'via', network.nodeVethIP, 'dev', network.hostVeth]);
}

/** Deletes the namespace (its interfaces, routes, nftables tables and sysctls go with it) and the host end of the veth pair. Idempotent. */
export async function removeNetwork(network: NodeNetwork): Promise<void> {
  await ip(['netns', 'delete', network.netns], false);
  await ip(['link', 'delete', network.hostVeth], false);
}

/** True when the namespace or the host veth still exists. */
export async function networkExists(network: NodeNetwork): Promise<boolean> {
  const ns = await execa('ip', ['netns', 'list'], { reject: false });
  const link = await execa('ip', ['link', 'show', network.hostVeth], { reject: false });
  return String(ns.stdout).split('\n').some((l) => l.split(' ')[0] === network.netns) || link.exitCode === 0;
}
