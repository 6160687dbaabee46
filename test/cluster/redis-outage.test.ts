/**
 * Redis is a cache, proven on the real node: dist/local deployed, then the redis Deployment scaled
 * to 0. For longer than the web pods' readiness and liveness probes need to act, the kubelet keeps
 * every web replica Ready (no Ready=False, no restart, every replica a ready endpoint of the
 * Service) and both replicas serve traffic through the Ingress; a logged-in user keeps working
 * and a new user registers and logs in through INGRESS_URL; each replica reports Redis down in
 * /readyz and `app_dependency_up`. Redis scaled back to 1: every replica reports it up again and
 * uses the cache, with no restart and no manual step.
 *
 * The app image is built under a tag of this file's own, so the shared tag other suites run is
 * never rebuilt from here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { APP_METRICS_PORT, APP_PORT, METRICS_PATH, READY_PATH, READY_STATUS } from '@expense-tracker/model/app-contract';
import type { KubeObject } from '../../charts/synthesize.js';
import { startCluster, stopCluster, type TestCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import { waitFor } from '@expense-tracker/testkit/test-cluster/kubectl';
import { appImageReferences, ensureClusterImages } from '@expense-tracker/testkit/test-cluster/node/images';
import { IngressSession } from './ingress.js';
import { deployEnvironment, realNodeSets, secretsYaml, synth, watch } from './support.js';

const ENV = 'local';
const progress = (m: string) => process.stderr.write(`[redis-outage] ${m}\n`);

describe('Redis stopped on the real node (dist/local): every web replica stays Ready and in rotation', () => {
  const config = loadEnvironment(ENV);
  const NAMESPACE = config.namespace;
  const HOST = config.ingress.host;
  let cluster: TestCluster;
  let work: string;
  let objects: KubeObject[];
  const onExit = () => {
    if (cluster) for (const p of cluster.processes) try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  const selectorOf = (kind: string, name: string) => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name) as any;
    if (!o) throw new Error(`${kind}/${name} not in dist/${ENV}`);
    return Object.entries(o.spec.selector.matchLabels as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
  };
  const pods = async (selector: string) => (await cluster.kubectl.json<{ items: any[] }>(['get', 'pods', '-n', NAMESPACE, '-l', selector])).items;
  const isReady = (pod: any) => pod.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ?? false;
  /** GET on a port of the web container from inside it (its own loopback): the replica's own answer, not the load balancer's. */
  const inPod = async (pod: string, port: number, path: string): Promise<string> =>
    (await cluster.kubectl.run(['exec', '-n', NAMESPACE, pod, '-c', 'web', '--', 'node', '-e',
      `fetch('http://127.0.0.1:${port}${path}').then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })), (e) => { console.error(e.message); process.exit(1); })`])).stdout;
  const readyz = async (pod: string) => {
    const { status, body } = JSON.parse(await inPod(pod, APP_PORT, READY_PATH)) as { status: number; body: string };
    return { status, json: JSON.parse(body) as Record<string, string> };
  };
  const metricsOf = async (pod: string) => (JSON.parse(await inPod(pod, APP_METRICS_PORT, METRICS_PATH)) as { body: string }).body;
  /** Requests a replica answered, probes excluded (`http_request_duration_seconds_count`). */
  const served = async (pod: string) => (await metricsOf(pod)).split('\n')
    .filter((l) => l.startsWith('http_request_duration_seconds_count{') && !/route="\/(readyz|healthz)"/.test(l))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

  /** Dashboard cache hits of all replicas (`summary_cache_requests_total{result="hit"}`). */
  const cacheHits = async (of: any[]) => (await Promise.all(of.map((p) => metricsOf(p.metadata.name))))
    .reduce((n, m) => n + Number(/^summary_cache_requests_total\{result="hit"\} (\d+)/m.exec(m)?.[1] ?? 0), 0);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'expense-tracker-redis-outage-'));
    process.on('exit', onExit);
    await ensureClusterImages({ progress, appImages: appImageReferences() });
    cluster = await startCluster({ dir: join(work, 'cluster'), ingressNamespace: config.ingressControllerNamespace, progress });
    let dir: string;
    ({ dir, objects } = await synth(ENV, join(work, 'dist'), await realNodeSets(cluster.registryUrl!, ENV)));
    expect(await deployEnvironment(cluster.kubectl, dir, await secretsYaml(ENV))).toEqual([]);
    // Every pod Ready (not Deployment Available: that waits out web's minReadySeconds, which is for HAProxy's discovery during rollouts).
    const expected = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet').reduce((n, w: any) => n + (w.spec.replicas ?? 1), 0);
    await waitFor('every pod Ready', async () => {
      const all = (await cluster.kubectl.json<{ items: any[] }>(['get', 'pods', '-n', NAMESPACE])).items;
      return all.length === expected && all.every(isReady);
    }, 240_000, 500);
    progress('app deployed, every pod Ready');
  });

  afterAll(async () => {
    process.off('exit', onExit);
    if (work) {
      await stopCluster(join(work, 'cluster'));
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('Redis at 0 replicas: no web replica leaves rotation or restarts, users keep working and new logins work through the Ingress; Redis back needs no manual step', async () => {
    const web = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'expense-web') as any;
    const desired: number = web.spec.replicas;
    expect(desired).toBeGreaterThan(1);
    const container = web.spec.template.spec.containers.find((c: any) => c.name === 'web');
    // Long enough for either probe to have failed its threshold, had it depended on Redis.
    const probeWindowMs = Math.max(...[container.readinessProbe, container.livenessProbe].map((p: any) => (p.periodSeconds * p.failureThreshold + p.timeoutSeconds) * 1000));
    const webSelector = selectorOf('Deployment', 'expense-web');
    const redisSelector = selectorOf('Deployment', 'redis');
    const webService = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'expense-web') as any;
    expect(webService, 'Service expense-web').toBeDefined();

    const before = await pods(webSelector);
    expect(before).toHaveLength(desired);
    const uids = new Map(before.map((p) => [p.metadata.name, p.metadata.uid as string]));
    const restarts = (p: any) => (p.status.containerStatuses as any[]).reduce((n, c) => n + c.restartCount, 0);
    const restartsBefore = new Map(before.map((p) => [p.metadata.name, restarts(p)]));

    // A user with data, logged in through the Ingress while Redis is up; both replicas take traffic.
    const user = new IngressSession(cluster.ingressUrl!, HOST);
    // HAProxy learns the replicas through cluster DNS and its health checks: wait for 10 good answers in a row.
    let good = 0;
    await waitFor('the app through the Ingress (10 good answers in a row)', async () => {
      good = (await user.send('GET', '/login').catch(() => ({ status: 0 }))).status === 200 ? good + 1 : 0;
      return good >= 10;
    }, 120_000, 250);
    await user.signUp('cached@example.com', 'a long ingress password');
    const month = new Date().toISOString().slice(0, 7);
    expect((await user.send('POST', '/api/expenses', { json: { amountCents: 1500, currency: 'USD', category: 'Food', date: `${month}-02` } })).status).toBe(201);
    // HAProxy discovers the replicas through DNS: wait until each one has answered pages.
    await waitFor('both replicas serve pages through the Ingress', async () => {
      for (let i = 0; i < 6; i++) await user.send('GET', '/dashboard');
      return (await Promise.all(before.map((p) => served(p.metadata.name)))).every((n) => n > 0);
    }, 120_000, 1_000);

    // Watch every web pod and the Service's endpoints from now on.
    const notReady: string[] = [];
    let events = 0;
    const podWatch = watch(cluster.kubectl, ['pods', '-n', NAMESPACE, '-l', webSelector], ({ type, object }) => {
      events += 1;
      if (type === 'DELETED' || object.metadata.deletionTimestamp || !isReady(object)) notReady.push(`${type} ${object.metadata.name}`);
    });
    const endpointCounts: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const slices = await cluster.kubectl.json<{ items: any[] }>(['get', 'endpointslices', '-n', NAMESPACE, '-l', `kubernetes.io/service-name=${webService.metadata.name}`]);
        endpointCounts.push(slices.items.flatMap((s) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready)).length);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    })();
    try {
      await waitFor('pod watch replay', async () => events >= desired, 30_000, 100);

      await cluster.kubectl.run(['scale', 'deployment', 'redis', '-n', NAMESPACE, '--replicas=0']);
      await waitFor('the redis pod gone', async () => (await pods(redisSelector)).length === 0, 90_000, 500);
      const down = Date.now();
      progress('redis scaled to 0');
      for (const pod of before) {
        await waitFor(`${pod.metadata.name} reports Redis down`, async () => (await readyz(pod.metadata.name)).json.redis === 'down', 30_000, 500);
        const ready = await readyz(pod.metadata.name);
        expect(ready.status, pod.metadata.name).toBe(READY_STATUS);
        expect(ready.json, pod.metadata.name).toMatchObject({ status: 'degraded', postgres: 'up', redis: 'down' });
        expect(await metricsOf(pod.metadata.name)).toMatch(/^app_dependency_up\{dependency="redis"\} 0$/m);
      }

      // The logged-in user works (pages, the API, writes); a new user registers and logs in; a known one logs in again.
      const servedBefore = await Promise.all(before.map((p) => served(p.metadata.name)));
      const newcomer = new IngressSession(cluster.ingressUrl!, HOST);
      await newcomer.signUp('newcomer@example.com', 'another long ingress password');
      expect((await newcomer.send('GET', '/dashboard')).status).toBe(200);
      const again = new IngressSession(cluster.ingressUrl!, HOST);
      await again.signUp('cached@example.com', 'a long ingress password', true);
      expect((await user.send('POST', '/api/expenses', { json: { amountCents: 250, currency: 'USD', category: 'Food', date: `${month}-03` } })).status).toBe(201);
      const failures: string[] = [];
      // Logged-in traffic through the Ingress for the rest of the probe window.
      while (Date.now() - down < probeWindowMs + 5_000) {
        for (const [who, path] of [[user, '/dashboard'], [again, `/api/summary?month=${month}`], [newcomer, '/expenses']] as const) {
          const r = await who.send('GET', path).catch((e: Error) => ({ status: e.message, text: '' }));
          if (r.status !== 200) failures.push(`${path}: ${r.status} ${r.text.slice(0, 200)}`);
        }
      }
      expect(failures).toEqual([]);
      const summary = JSON.parse((await again.send('GET', `/api/summary?month=${month}`)).text);
      expect(summary.totalCents).toBe(1750);
      // Both replicas answered during the outage: HAProxy kept both in rotation too.
      const servedAfter = await Promise.all(before.map((p) => served(p.metadata.name)));
      servedAfter.forEach((n, i) => expect(n, before[i]!.metadata.name).toBeGreaterThan(servedBefore[i]!));
      progress(`outage window of ${((Date.now() - down) / 1000).toFixed(0)} s passed with every replica Ready`);

      // Redis back: no restart, no manual step.
      await cluster.kubectl.run(['scale', 'deployment', 'redis', '-n', NAMESPACE, '--replicas=1']);
      await waitFor('redis Ready again', async () => (await pods(redisSelector)).some(isReady), 120_000, 500);
      for (const pod of before) {
        await waitFor(`${pod.metadata.name} reports Redis up`, async () => (await readyz(pod.metadata.name)).json.status === 'ready', 60_000, 1_000);
      }
      const hitsBack = await cacheHits(before);
      await waitFor('the dashboard cache used again', async () => {
        await user.send('GET', `/api/summary?month=${month}`);
        return (await cacheHits(before)) > hitsBack;
      }, 30_000, 500);
      expect((await user.send('GET', '/dashboard')).status).toBe(200);
      expect((await newcomer.send('GET', '/dashboard')).status).toBe(200);
    } finally {
      sampling = false;
      await sampler.catch(() => undefined);
      podWatch.stop();
      await podWatch.ended;
    }

    expect(notReady).toEqual([]);
    expect(endpointCounts.length).toBeGreaterThan(probeWindowMs / 2_000);
    expect(Math.min(...endpointCounts)).toBe(desired);
    const after = await pods(webSelector);
    expect(new Map(after.map((p) => [p.metadata.name, p.metadata.uid as string]))).toEqual(uids);
    expect(new Map(after.map((p) => [p.metadata.name, restarts(p)]))).toEqual(restartsBefore);
  });
});
