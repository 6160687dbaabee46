/**
 * The Kubernetes target's service discovery, without a cluster: the rendered
 * `server-template … resolvers kubedns` configuration runs in a real HAProxy whose resolvers
 * section points at a small DNS responder on loopback standing in for the cluster DNS (it
 * answers A records for `expense-web-headless.<namespace>.svc.cluster.local`, like a headless
 * Service publishing its ready pods). "Pods" are minimal HTTP fixtures (not the app: the app
 * binds every interface, and pods share one port on different IPs) on 127.0.0.2, .3, .4.
 *
 * Proves: slots are filled from DNS at runtime, a new record ("pod scaled up") starts getting
 * traffic without a reload, a removed record leaves the rotation, unused slots stay in MAINT.
 * Only the listeners, the runtime socket path, the nameserver and `hold obsolete` are changed
 * from the rendered spec, so the test runs unprivileged next to other tests.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READY_PATH } from '@expense-tracker/model/app-contract';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { renderLoadBalancer, type LoadBalancerSpec } from '../../haproxy/load-balancer.js';
import { startHaproxy, type HaproxyProcess } from '../../scripts/local/haproxy.js';
import { loadBalancerSpec } from '../../charts/haproxy-config.js';
import { WEB } from '@expense-tracker/model/components';
import { freePort } from '@expense-tracker/tools/process/ports';

/** A tiny authoritative DNS responder (RFC 1035) answering A queries for one name. */
class FakeClusterDns {
  readonly socket = dgram.createSocket('udp4');
  addresses: string[] = [];
  queries = 0;

  constructor(readonly name: string) {
    this.socket.on('message', (msg, rinfo) => {
      const reply = this.answer(msg);
      if (reply) this.socket.send(reply, rinfo.port, rinfo.address);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', r));
    return this.socket.address().port;
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }

  private answer(query: Buffer): Buffer | undefined {
    if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
    // Question: labels, then QTYPE and QCLASS.
    let offset = 12;
    const labels: string[] = [];
    while (query[offset] !== 0) {
      const len = query[offset];
      labels.push(query.subarray(offset + 1, offset + 1 + len).toString('ascii'));
      offset += len + 1;
    }
    const qtype = query.readUInt16BE(offset + 1);
    const question = query.subarray(12, offset + 5);
    this.queries++;
    const known = labels.join('.').toLowerCase() === this.name;
    const answers = known && qtype === 1 ? this.addresses : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0); // ID
    header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2); // QR, AA, RD copied, NXDOMAIN when unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const records = answers.map((ip) => {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(5, 6); // TTL 5 s, like CoreDNS' default for Services
      rr.writeUInt16BE(4, 10);
      ip.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
      return rr;
    });
    return Buffer.concat([header, question, ...records]);
  }
}

/** A "pod": answers readiness and echoes which IP served the request. */
function startPod(address: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    res.setHeader('x-pod', address);
    res.end(req.url === READY_PATH ? 'ready' : `served by ${address}`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve(server));
  });
}

async function eventually(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('Kubernetes target: server-template slots follow DNS at runtime', () => {
  const env = loadEnvironment('local', { imageTag: 'test' });
  const fqdn = `${WEB.headlessServiceName}.${env.namespace}.svc.cluster.local`;
  const dns = new FakeClusterDns(fqdn);
  const pods: http.Server[] = [];
  let haproxy: HaproxyProcess;
  let workDir: string;

  /** Which pod IPs answer 30 sequential requests through HAProxy. */
  async function servedBy(): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const r = await fetch(`${haproxy.url}/`);
      expect(r.status).toBe(200);
      seen.add(r.headers.get('x-pod') ?? '?');
      await r.arrayBuffer();
    }
    return seen;
  }

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'haproxy-dns-'));
    const dnsPort = await dns.listen();
    const podPort = await freePort();
    for (const ip of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) pods.push(await startPod(ip, podPort));
    dns.addresses = ['127.0.0.2', '127.0.0.3'];

    const rendered = loadBalancerSpec(env, { kind: 'kubernetes' });
    const port = await freePort();
    const statsPort = await freePort();
    const spec: LoadBalancerSpec = {
      ...rendered,
      bind: { address: '127.0.0.1', port },
      stats: { ...rendered.stats, address: '127.0.0.1', port: statsPort },
      statsSocket: join(workDir, 'admin.sock'),
      resolvers: { ...rendered.resolvers!, parseResolvConf: false, nameservers: [{ name: 'clusterdns', address: '127.0.0.1', port: dnsPort }], holdObsoleteSeconds: 2 },
      backends: rendered.backends.map((b) => (b.servers.kind === 'template' ? { ...b, servers: { ...b.servers, port: podPort } } : b)),
    };
    const config = renderLoadBalancer(spec);
    expect(config).toContain(`server-template web ${env.haproxy.serverSlots} ${fqdn}:${podPort} check resolvers kubedns resolve-prefer ipv4 init-addr none`);
    haproxy = await startHaproxy({ config, workDir, port, statsPort });
  }, 60_000);

  afterAll(async () => {
    await haproxy?.stop();
    await Promise.all(pods.map((p) => new Promise((r) => p.close(r))));
    await dns.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('fills slots from the A records; the other slots stay in maintenance', async () => {
    await eventually('two slots UP', 30_000, async () => {
      const m = await haproxy.metrics();
      return ['web1', 'web2'].every((s) => m.serverState('web', s) === 'UP');
    });
    expect(dns.queries).toBeGreaterThan(0);
    const m = await haproxy.metrics();
    for (let i = 3; i <= env.haproxy.serverSlots; i++) expect(m.serverState('web', `web${i}`), `web${i}`).toBe('MAINT');
    expect(await servedBy()).toEqual(new Set(['127.0.0.2', '127.0.0.3']));
  });

  it('a new pod gets traffic without a reload; a removed pod leaves the rotation', async () => {
    const pid = haproxy.pid;
    dns.addresses = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
    await eventually('the new pod to serve', 30_000, async () => (await servedBy()).has('127.0.0.4'));

    dns.addresses = ['127.0.0.2', '127.0.0.4'];
    await eventually('127.0.0.3 to leave the rotation', 30_000, async () => !(await servedBy()).has('127.0.0.3'));
    expect(await servedBy()).toEqual(new Set(['127.0.0.2', '127.0.0.4']));
    expect(haproxy.pid).toBe(pid);
  });
});
