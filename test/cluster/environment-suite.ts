/**
 * The cluster tier's checks for one environment's manifests, on a real single-node cluster
 * (testkit/src/test-cluster: the control plane, containerd + kubelet + kube-proxy in the
 * cluster's own network namespace with kube-router enforcing NetworkPolicies, CoreDNS, local-path-provisioner and
 * Traefik in the environment's Ingress controller namespace). One fresh cluster per test file,
 * shared by its tests, which run in order: apply -> admission -> readiness with real containers
 * -> the app through the Ingress in Chromium -> NetworkPolicies -> (monitoring on) the Prometheus
 * Operator reconciling the monitors and rules into a real Prometheus -> Postgres and node restarts
 * -> idempotence -> rolling update and pod kill under load -> (monitoring on) Postgres stopped
 * until its alert fires, then restored -> deletion.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMPORT_WORKER, WEB } from '@expense-tracker/model/components';
import { loadEnvironment } from '@expense-tracker/model/environment';
import type { KubeObject } from '../../charts/synthesize.js';
import { startCluster, stopCluster, type TestCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import { waitFor } from '@expense-tracker/testkit/test-cluster/kubectl';
import { appImageReferences, ensureClusterImages } from '@expense-tracker/testkit/test-cluster/node/images';
import { browserFlow, ingressGet, IngressSession, steadyLoad } from './ingress.js';
import { FIELD_MANAGER, deployEnvironment, deployPrometheusStack, secretsYaml, deploymentReady, hostLimitSets, installMonitoringCrds, runProbePod, singleNodeSets, manifestFiles, prometheusApi, serverSideApply, standInDigests, synth, waitForWorkloads, watch } from './support.js';
import { ALERTS } from '../../monitoring/rules.js';

const progress = (m: string) => process.stderr.write(`[cluster-test] ${m}\n`);

export function describeEnvironment(env: 'local' | 'ibm'): void {
  const config = loadEnvironment(env);
  const NAMESPACE = config.namespace;
  const HOST = config.ingress.host;
  // Probe pods run the environment's PostgreSQL image: it has bash and its /dev/tcp.
  const probeImage = `${config.postgres.image.repository}:${config.postgres.image.tag}`;
  // Images pinned by Docker Hub digests (ibm) run pinned to the digests of the stand-ins the
  // node's registry serves under the same tags (see standInDigests).
  let digests: string[] = [];
  // Settings this host and one node cannot run as written (see hostLimitSets, singleNodeSets).
  const limits = [...hostLimitSets(config), ...singleNodeSets(config)];
  // Monitoring on a test's time scale, through the environment's own settings: the shortest
  // scrape interval the schema allows and a 30 s `for:` on ExpensePostgresDown (the real
  // environment keeps its values; the rule is the same).
  const SCRAPE_SECONDS = 5;
  const POSTGRES_DOWN_FOR_SECONDS = 30;
  const monitoringSets = config.monitoring.enabled
    ? [`monitoring.prometheus.scrapeIntervalSeconds=${SCRAPE_SECONDS}`, `monitoring.alerts.postgresDownForSeconds=${POSTGRES_DOWN_FOR_SECONDS}`]
    : [];
  describe(`dist/${env} on a real node`, () => {
    let cluster: TestCluster;
    let work: string;
    let dir: string;
    let objects: KubeObject[];
    const of = (kind: string) => objects.filter((o) => o.kind === kind);
    // Kill the control plane even if the worker dies without running afterAll.
    const onExit = () => {
      if (cluster) for (const p of cluster.processes) try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
    };

    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), `expense-tracker-cluster-test-${env}-`));
      process.on('exit', onExit);
      // The app image under every environment's name, the stand-ins and the node's images, in the registry the node pulls from.
      await ensureClusterImages({ progress, appImages: appImageReferences(), monitoring: config.monitoring.enabled });
      cluster = await startCluster({ dir: join(work, 'cluster'), ingressNamespace: config.ingressControllerNamespace, progress });
      digests = await standInDigests(cluster.registryUrl!, env);
      ({ dir, objects } = await synth(env, join(work, 'dist'), [...digests, ...limits, ...monitoringSets]));
      // The monitors and rules need the Prometheus Operator's CRDs, as in a kube-prometheus-stack cluster.
      if (config.monitoring.enabled) await installMonitoringCrds(cluster.kubectl);
    });

    afterAll(async () => {
      process.off('exit', onExit);
      if (work) {
        await stopCluster(join(work, 'cluster'));
        rmSync(work, { recursive: true, force: true });
      }
    });

    it('server-side applies the Namespace, the external Secrets and every manifest with zero API warnings', async () => {
      expect(of('Namespace').map((n) => n.metadata.name)).toEqual([NAMESPACE]);
      const warnings = await deployEnvironment(cluster.kubectl, dir, await secretsYaml(env));
      expect(warnings).toEqual([]);
      // Every object in dist/ now exists (Ingress, ConfigMaps, NetworkPolicies, PDBs, ...).
      const { stdout } = await cluster.kubectl.run(['get', ...manifestFiles(dir).flatMap((f) => ['-f', f]), '-o', 'name']);
      expect(stdout.trim().split('\n')).toHaveLength(objects.length);
      const kinds = new Set(objects.map((o) => o.kind));
      for (const kind of ['Ingress', 'ConfigMap', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'Deployment', 'StatefulSet']) expect(kinds).toContain(kind);
    });

    it('enforces the restricted Pod Security Standard: a non-compliant pod is rejected', async () => {
      const ns = await cluster.kubectl.json(['get', 'namespace', NAMESPACE]);
      expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
      const rogue = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'psa-probe-root', namespace: NAMESPACE },
        // No securityContext at all: may run as root, keeps capabilities, no seccomp profile.
        spec: { containers: [{ name: 'shell', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
      };
      const result = await cluster.kubectl.run(['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '-f', '-'], {
        input: JSON.stringify(rogue),
        reject: false,
      });
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('violates PodSecurity "restricted:latest"');
      const lookup = await cluster.kubectl.run(['get', 'pod', 'psa-probe-root', '-n', NAMESPACE], { reject: false });
      expect(lookup.stderr).toContain('NotFound');
    });

    it('reconciles: Deployments Available, StatefulSet pods Ready with Bound claims, Services with endpoints, every pod admitted', async () => {
      await waitForWorkloads(cluster.kubectl, NAMESPACE, objects);

      // No controller was refused a pod (PodSecurity or anything else).
      const events = await cluster.kubectl.json<{ items: any[] }>(['get', 'events', '-n', NAMESPACE, '--field-selector', 'reason=FailedCreate']);
      expect(events.items.map((e) => e.message)).toEqual([]);
      const pods = await cluster.kubectl.json<{ items: any[] }>(['get', 'pods', '-n', NAMESPACE]);
      const expectedPods = [...of('Deployment'), ...of('StatefulSet')].reduce((n, w: any) => n + (w.spec.replicas ?? 1), 0);
      expect(pods.items.filter((p) => p.status.phase === 'Running')).toHaveLength(expectedPods);

      // StatefulSet claims (`<template>-<statefulset>-<ordinal>`) and standalone PVCs are Bound with the environment's class.
      const claims: string[] = of('PersistentVolumeClaim').map((c) => c.metadata.name);
      for (const sts of of('StatefulSet') as any[]) {
        for (const template of sts.spec.volumeClaimTemplates ?? []) {
          for (let i = 0; i < (sts.spec.replicas ?? 1); i += 1) claims.push(`${template.metadata.name}-${sts.metadata.name}-${i}`);
        }
      }
      expect(claims).toContain('data-postgres-0');
      await waitFor('PVCs Bound', async () => {
        const pvcs = await cluster.kubectl.json<{ items: any[] }>(['get', 'pvc', '-n', NAMESPACE]);
        return claims.every((name) => pvcs.items.some((p) => p.metadata.name === name && p.status.phase === 'Bound'));
      }, 60_000);
      const pvcs = await cluster.kubectl.json<{ items: any[] }>(['get', 'pvc', '-n', NAMESPACE]);
      for (const pvc of pvcs.items) {
        const standalone = of('PersistentVolumeClaim').find((c: any) => c.metadata.name === pvc.metadata.name) as any;
        expect(pvc.spec.storageClassName, pvc.metadata.name).toBe(standalone?.spec.storageClassName ?? config.postgres.storageClassName);
      }
      // The import staging claim is shared by web and worker pods: ReadWriteMany for ibm's nodes,
      // ReadWriteOnce on this single node (singleNodeSets), mounted by every pod of both.
      const staging = pvcs.items.find((p) => p.metadata.name === IMPORT_WORKER.stagingClaimName);
      expect(config.imports.staging.accessMode).toBe(env === 'ibm' ? 'ReadWriteMany' : 'ReadWriteOnce');
      expect(staging?.spec.accessModes).toEqual(['ReadWriteOnce']);
      const mounting = pods.items.filter((p) => p.spec.volumes?.some((v: any) => v.persistentVolumeClaim?.claimName === IMPORT_WORKER.stagingClaimName));
      expect(new Set(mounting.map((p) => p.metadata.labels['app.kubernetes.io/component']))).toEqual(new Set([WEB.identity.component, IMPORT_WORKER.identity.component]));

      // Every Service selects ready pods: its EndpointSlices list exactly the ready pods its selector matches.
      for (const svc of of('Service') as any[]) {
        await waitFor(`EndpointSlices of Service ${svc.metadata.name}`, async () => {
          const slices = await cluster.kubectl.json<{ items: any[] }>(['get', 'endpointslices', '-n', NAMESPACE, '-l', `kubernetes.io/service-name=${svc.metadata.name}`]);
          const ready = slices.items.flatMap((s) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready).map((e: any) => e.targetRef?.name));
          const selector = Object.entries(svc.spec.selector as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
          const selected = await cluster.kubectl.json<{ items: any[] }>(['get', 'pods', '-n', NAMESPACE, '-l', selector]);
          return ready.length > 0 && ready.length === selected.items.length && selected.items.every((p) => ready.includes(p.metadata.name));
        }, 60_000);
      }

      // PDBs see their pods healthy.
      for (const pdb of of('PodDisruptionBudget')) {
        const live = await cluster.kubectl.json(['get', 'pdb', pdb.metadata.name, '-n', NAMESPACE]);
        expect(live.status.currentHealthy).toBeGreaterThanOrEqual(live.status.desiredHealthy);
        expect(live.status.expectedPods).toBeGreaterThan(0);
      }
    });

    /** A Service of the app listening on `port` (e.g. 5432 for Postgres, 6379 for Redis). */
    const serviceOnPort = (port: number): string => {
      const svc = (of('Service') as any[]).find((s) => s.spec.ports.some((p: any) => p.port === port) && s.spec.clusterIP !== 'None')
        ?? (of('Service') as any[]).find((s) => s.spec.ports.some((p: any) => p.port === port));
      if (!svc) throw new Error(`no Service on port ${port} in dist/${env}`);
      return svc.metadata.name;
    };
    const podsOf = async (selector: string) => (await cluster.kubectl.json<{ items: any[] }>(['get', 'pods', '-n', NAMESPACE, '-l', selector])).items;
    const webSelector = () => Object.entries((of('Deployment').find((d) => d.metadata.name === 'expense-web') as any).spec.selector.matchLabels as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
    const psql = async (sql: string) => (await cluster.kubectl.run(['exec', '-n', NAMESPACE, 'postgres-0', '-c', 'postgres', '--', 'psql', '-X', '-At', '-U', config.postgres.username, '-d', config.postgres.database, '-c', sql])).stdout.trim();
    const expenseCount = async () => Number(await psql('SELECT count(*) FROM expenses'));

    it('runs real containers: containerd IDs, the migrate init container migrated, seccomp RuntimeDefault in force', async () => {
      const pods = (await cluster.kubectl.json<{ items: any[] }>(['get', 'pods', '-n', NAMESPACE])).items;
      expect(pods.length).toBeGreaterThan(0);
      for (const pod of pods) {
        expect(pod.spec.nodeName, pod.metadata.name).toBe('node-0');
        for (const c of pod.status.containerStatuses) {
          expect(c.containerID, `${pod.metadata.name}/${c.name}`).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
          expect(c.ready, `${pod.metadata.name}/${c.name}`).toBe(true);
        }
      }
      for (const pod of await podsOf(webSelector())) {
        const migrate = pod.status.initContainerStatuses.find((c: any) => c.name === 'migrate');
        expect(migrate.state.terminated, pod.metadata.name).toMatchObject({ exitCode: 0, reason: 'Completed' });
        // seccomp mode 2 (filter) in the running process: RuntimeDefault applied by containerd.
        const status = await cluster.kubectl.run(['exec', '-n', NAMESPACE, pod.metadata.name, '-c', 'web', '--', 'cat', '/proc/1/status']);
        expect(status.stdout).toMatch(/^Seccomp:\s+2$/m);
        expect(status.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
      }
      // Images pinned by digest run from exactly that content (the node pulled them by digest).
      for (const set of digests) {
        const digest = set.slice(set.indexOf('=') + 1);
        const statuses = pods.flatMap((p) => (p.spec.containers as any[]).filter((c) => c.image.endsWith(`@${digest}`))
          .map((c) => (p.status.containerStatuses as any[]).find((st) => st.name === c.name)));
        expect(statuses.length, set).toBeGreaterThan(0);
        for (const c of statuses) expect(c.imageID, `${set}: ${c.name}`).toMatch(new RegExp(`@${digest}$`));
      }
      // The schema exists: every migration ran against the real Postgres.
      expect(Number(await psql('SELECT count(*) FROM pgmigrations'))).toBeGreaterThan(0);
      expect(await psql("SELECT to_regclass('public.expenses') IS NOT NULL")).toBe('t');
    });

    it('serves the app through the Ingress: Chromium registers, logs in, adds expenses and sees them; the controller published the Ingress status', async () => {
      const ingressUrl = cluster.ingressUrl!;
      await waitFor('the app through the Ingress', async () => (await ingressGet(ingressUrl, HOST, '/readyz')).status === 200, 60_000, 500);
      const result = await browserFlow(ingressUrl, HOST, `browser-${env}@example.com`, [
        { amount: '12.50', category: 'Groceries', description: 'Vegetables' },
        { amount: '7.25', category: 'Transport', description: 'Bus pass' },
      ]);
      expect(result.monthTotal).toBe('$19.75');
      expect(await expenseCount()).toBe(2);
      const ingress = await cluster.kubectl.json<any>(['get', 'ingress', 'expense-web', '-n', NAMESPACE]);
      expect(ingress.status.loadBalancer.ingress).toEqual([{ ip: '127.0.0.1' }]);
      // A Host the Ingress does not route is not served.
      expect((await ingressGet(ingressUrl, 'not-the-app.example', '/readyz')).status).toBe(404);
    });

    it('enforces NetworkPolicies: a pod without the allowed labels cannot reach Postgres or Redis, the web pods can', async () => {
      const targets = [[serviceOnPort(5432), 5432], [serviceOnPort(6379), 6379]] as const;
      const script = targets.map(([host, port]) => `if timeout 3 bash -c '</dev/tcp/${host}/${port}' 2>/dev/null; then echo ${host}=open; else echo ${host}=closed; fi`).join('; ');
      const logs = await runProbePod(cluster.kubectl, { name: 'netpol-probe', namespace: NAMESPACE, image: probeImage, script, timeoutMs: 60_000 });
      expect(logs).toEqual(targets.map(([host]) => `${host}=closed`));
      const web = (await podsOf(webSelector()))[0];
      for (const [host, port] of targets) {
        const reach = await cluster.kubectl.run(['exec', '-n', NAMESPACE, web.metadata.name, '-c', 'web', '--', 'node', '-e',
          `require('net').connect(${port}, '${host}').on('connect', () => { console.log('open'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(1); }).setTimeout(3000, () => { console.log('timeout'); process.exit(1); })`], { reject: false });
        expect(reach.stdout.trim(), `${web.metadata.name} -> ${host}:${port}`).toBe('open');
      }
    });

    const PROMETHEUS_NAMESPACE = config.monitoring.prometheus.namespace;
    const prometheus = <T = any>(path: string) => prometheusApi<T>(cluster.kubectl, PROMETHEUS_NAMESPACE, path);
    const query = async (promql: string) => (await prometheus<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result;
    const ruleGroups = async () => (await prometheus<{ groups: { name: string; interval: number; rules: { name: string; health: string; lastError?: string }[] }[] }>('/api/v1/rules')).groups;
    const unhealthyRules = (groups: Awaited<ReturnType<typeof ruleGroups>>) =>
      groups.flatMap((g) => g.rules.filter((r) => r.health !== 'ok').map((r) => ({ group: g.name, rule: r.name, health: r.health, error: r.lastError })));
    // When the rules were loaded and the longest group interval (seconds): Prometheus evaluates a
    // group first at an offset within its interval, so a long group may not have run right after.
    let rulesLoadedAt = 0;
    let longestGroupSeconds = 0;

    it.runIf(config.monitoring.enabled)('monitoring: the Prometheus Operator reconciles the monitors and rules into a real Prometheus: every target up (pg_up 1, redis_up 1), every rule loaded and evaluated', async () => {
      const kinds = new Set(objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1').map((o) => o.kind));
      expect([...kinds]).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule']));
      for (const kind of kinds) {
        const names = of(kind).map((o) => o.metadata.name).sort();
        const live = await cluster.kubectl.json<{ items: any[] }>(['get', kind.toLowerCase(), '-n', NAMESPACE]);
        expect(live.items.map((o) => o.metadata.name).sort(), kind).toEqual(names);
      }
      // The operator and a Prometheus selecting the environment's selector labels, in the
      // namespace the charts' NetworkPolicies admit to the metrics ports.
      const started = Date.now();
      const warnings = await deployPrometheusStack(cluster.kubectl, { namespace: PROMETHEUS_NAMESPACE, selectorLabels: config.monitoring.prometheus.selectorLabels, intervalSeconds: SCRAPE_SECONDS });
      expect(warnings).toEqual([]);
      progress(`Prometheus Operator and Prometheus ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);

      // Every monitor endpoint became a scrape pool with its `job`, and every target is up.
      const monitors = [...of('ServiceMonitor'), ...of('PodMonitor')] as any[];
      const jobs = monitors.flatMap((m) => [...(m.spec.endpoints ?? []), ...(m.spec.podMetricsEndpoints ?? [])]
        .map((e: any) => e.relabelings.find((r: any) => r.targetLabel === 'job').replacement as string));
      let targets: any[] = [];
      await waitFor('every target of the monitors up', async () => {
        targets = (await prometheus<{ activeTargets: any[] }>('/api/v1/targets?state=active')).activeTargets.filter((t) => t.labels.namespace === NAMESPACE);
        const byJob = new Map(jobs.map((j) => [j, targets.filter((t) => t.labels.job === j)]));
        return [...byJob.values()].every((list) => list.length > 0 && list.every((t) => t.health === 'up'));
      }, 120_000, 1000).catch((error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify(targets.map((t) => ({ job: t.labels.job, pool: t.scrapePool, health: t.health, error: t.lastError })))}`);
      });
      expect(new Set(targets.map((t) => t.labels.job))).toEqual(new Set(jobs));
      // Both exporters reach their servers with the credentials from the Secrets.
      expect((await query('pg_up')).map((r) => [r.metric.namespace, r.value[1]])).toEqual([[NAMESPACE, '1']]);
      expect((await query('redis_up')).map((r) => [r.metric.namespace, r.value[1]])).toEqual([[NAMESPACE, '1']]);

      // The PrometheusRule's groups, rule for rule, loaded; every group on the global evaluation
      // interval evaluated without error. A group with its own longer interval (the SLO period's
      // 5m) may not have had its first evaluation yet ('unknown'), but none failed; the
      // Postgres-down test below requires every rule evaluated.
      const rule = of('PrometheusRule')[0] as any;
      const expected = (rule.spec.groups as any[]).map((g) => [g.name, g.rules.length]).sort();
      let loaded: Awaited<ReturnType<typeof ruleGroups>> = [];
      await waitFor('every rule loaded and evaluated', async () => {
        loaded = await ruleGroups();
        return loaded.length === expected.length
          && loaded.every((g) => g.rules.every((r) => r.health === 'ok' || (r.health === 'unknown' && g.interval > SCRAPE_SECONDS)));
      }, 60_000, 1000).catch((error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify(unhealthyRules(loaded))}`);
      });
      expect(loaded.map((g) => [g.name, g.rules.length]).sort()).toEqual(expected);
      rulesLoadedAt = Date.now();
      longestGroupSeconds = Math.max(...loaded.map((g) => g.interval));
      // Nothing fires while everything is up.
      const firing = (await prometheus<{ alerts: any[] }>('/api/v1/alerts')).alerts.filter((a) => a.state === 'firing').map((a) => a.labels.alertname);
      expect(firing).toEqual([]);
    });

    it('loses no committed expense when postgres-0 is deleted, nor when containerd and the kubelet restart', async () => {
      const before = await expenseCount();
      expect(before).toBeGreaterThan(0);
      const oldUid = (await cluster.kubectl.json<any>(['get', 'pod', 'postgres-0', '-n', NAMESPACE])).metadata.uid;
      await cluster.kubectl.run(['delete', 'pod', 'postgres-0', '-n', NAMESPACE, '--wait=true']);
      await waitFor('a new postgres-0 Ready', async () => {
        const pod = await cluster.kubectl.json<any>(['get', 'pod', 'postgres-0', '-n', NAMESPACE]);
        return pod.metadata.uid !== oldUid && pod.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
      }, 180_000, 500);
      expect(await expenseCount()).toBe(before);

      // A session held across the restart: its pages read the session from PostgreSQL on every
      // request, so they prove each web replica reaches the database again, not only that it answers.
      const user = new IngressSession(cluster.ingressUrl!, HOST);
      await user.signUp(`across-restart-${env}@example.com`, 'a long ingress password');
      await cluster.restartNode();
      await waitForWorkloads(cluster.kubectl, NAMESPACE, objects);
      // Right after a kubelet restart the API can still show the old Ready status while the
      // kubelet has not yet taken its pods back ("unable to upgrade connection: pod does not
      // exist" from exec), so the count is read once exec works again.
      let after: number | undefined;
      await waitFor('psql in postgres-0 after the node restart', async () => {
        after = await expenseCount().catch(() => undefined);
        return after !== undefined;
      }, 120_000, 500);
      expect(after).toBe(before);
      // The app recovered on its own: logged-in pages work again through the Ingress, steadily.
      // A restarted kubelet has no probe results yet and reports every container with a
      // readiness probe NotReady until its first probe passes (kubernetes/kubernetes#100277), a few
      // seconds after the API still showed them Ready: every endpoint of the node leaves and comes
      // back (HAProxy re-resolves them, DNS answers held per `hold` in its resolvers section). So
      // recovered means STABLE_MS of good answers in a row, not a burst of good ones before that.
      const STABLE_MS = 30_000;
      let goodSince: number | undefined;
      let last = '';
      const bad: string[] = [];
      await waitFor(`the app and its database through the Ingress after the restart (${STABLE_MS / 1000} s of good dashboards in a row)`, async () => {
        const r = await user.send('GET', '/dashboard', { timeoutMs: 10_000 }).catch((e: Error) => ({ status: 0, text: e.message }));
        last = `HTTP ${r.status} ${r.text.replace(/\s+/g, ' ').slice(0, 200)}`;
        if (r.status !== 200) {
          bad.push(last.slice(0, 80));
          goodSince = undefined;
          return false;
        }
        goodSince ??= Date.now();
        return Date.now() - goodSince >= STABLE_MS;
      }, 300_000, 250).catch((e: Error) => {
        throw new Error(`${e.message}; last answer: ${last}`);
      });
      process.stderr.write(`[cluster-test] after the node restart: ${bad.length} bad dashboard answers before ${STABLE_MS / 1000} s of good ones${bad.length ? ` (first: ${bad[0]})` : ''}\n`);
      const again = await browserFlow(cluster.ingressUrl!, HOST, `after-restart-${env}@example.com`, [{ amount: '1', category: 'Test', description: 'After restart' }]);
      expect(again.monthTotal).toBe('$1.00');
      expect(await expenseCount()).toBe(before + 1);
    });

    it('a second server-side apply changes nothing', async () => {
      const files = manifestFiles(dir);
      const diff = await cluster.kubectl.run(['diff', '--server-side', `--field-manager=${FIELD_MANAGER}`, ...files.flatMap((f) => ['-f', f])], { reject: false });
      expect(diff.stderr).toBe('');
      expect(diff.stdout).toBe('');
      expect(diff.exitCode).toBe(0);

      // What our apply owns must be untouched: generation, our managedFields entry, and for
      // objects no controller writes to, the resourceVersion itself.
      const snapshot = async () => {
        const list = await cluster.kubectl.json<{ items: any[] }>(['get', '--show-managed-fields', ...files.flatMap((f) => ['-f', f])]);
        return Object.fromEntries(list.items.map((o) => [`${o.kind}/${o.metadata.name}`, {
          generation: o.metadata.generation,
          applied: o.metadata.managedFields.find((m: any) => m.manager === FIELD_MANAGER && m.operation === 'Apply'),
          resourceVersion: ['ConfigMap', 'NetworkPolicy', 'Service', 'Ingress', 'Namespace'].includes(o.kind) ? o.metadata.resourceVersion : undefined,
        }]));
      };
      const before = await snapshot();
      const { warnings } = await serverSideApply(cluster.kubectl, { files });
      expect(warnings).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });

    it('a new image tag rolls expense-web and ready replicas never drop below the desired count', async () => {
      const web = of('Deployment').find((d) => d.metadata.name === 'expense-web') as any;
      expect(web.spec.strategy.rollingUpdate).toMatchObject({ maxUnavailable: 0 });
      const desired: number = web.spec.replicas;
      const newTag = `rollout-${Date.now()}`;
      // The same app image under the new tag, in the registry the node pulls from.
      await ensureClusterImages({ progress, appImages: [...appImageReferences(), ...appImageReferences(newTag)], monitoring: config.monitoring.enabled });
      const rolled = await synth(env, join(work, 'dist-rolled'), [...digests, ...limits, ...monitoringSets, `image.tag=${newTag}`]);

      // Sample every pod and Deployment status change through watches (not polling).
      const selector = Object.entries(web.spec.selector.matchLabels as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
      const podState = new Map<string, { ready: boolean; terminating: boolean; image: string }>();
      const readyCounts: number[] = [];
      const deploymentReadyCounts: number[] = [];
      let maxPods = 0;
      const initial = await cluster.kubectl.json<{ items: any[] }>(['get', 'pods', '-n', NAMESPACE, '-l', selector]);
      const track = (pod: any, deleted = false) => {
        if (deleted) podState.delete(pod.metadata.name);
        else podState.set(pod.metadata.name, {
          ready: pod.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ?? false,
          terminating: Boolean(pod.metadata.deletionTimestamp),
          image: pod.spec.containers[0].image,
        });
      };
      initial.items.forEach((p) => track(p));
      let seen = 0;
      const pods = watch(cluster.kubectl, ['pods', '-n', NAMESPACE, '-l', selector], (event) => {
        seen += 1;
        track(event.object, event.type === 'DELETED');
        readyCounts.push([...podState.values()].filter((p) => p.ready && !p.terminating).length);
        maxPods = Math.max(maxPods, podState.size);
      });
      const deployment = watch(cluster.kubectl, ['deployment', 'expense-web', '-n', NAMESPACE], (event) => {
        deploymentReadyCounts.push(event.object.status?.readyReplicas ?? 0);
      });
      try {
        // The watch is live once it has replayed the existing pods.
        await waitFor('pod watch replay', async () => seen >= initial.items.length && deploymentReadyCounts.length > 0, 30_000, 100);
        const load = steadyLoad(cluster.ingressUrl!, HOST, '/login');
        const { warnings } = await serverSideApply(cluster.kubectl, { files: manifestFiles(rolled.dir) });
        expect(warnings).toEqual([]);
        try {
          await waitFor('expense-web rollout', async () => {
          const d = await cluster.kubectl.json(['get', 'deployment', 'expense-web', '-n', NAMESPACE]);
          const all = [...podState.values()];
            return deploymentReady(d) && all.length === desired && all.every((p) => p.image.endsWith(`:${newTag}`) && p.ready);
          }, 300_000, 250);
        } finally {
          const result = await load.stop();
          expect(result.requests).toBeGreaterThan(50);
          expect(result.failures).toEqual([]);
        }
      } finally {
        pods.stop();
        deployment.stop();
      }
      await Promise.all([pods.ended, deployment.ended]);

      // The rollout was observed (surge pods existed), and capacity never dipped.
      expect(maxPods).toBeGreaterThan(desired);
      expect(readyCounts.length).toBeGreaterThan(desired * 2);
      expect(Math.min(...readyCounts)).toBeGreaterThanOrEqual(desired);
      expect(Math.min(...deploymentReadyCounts)).toBeGreaterThanOrEqual(desired);
      objects = rolled.objects;
      dir = rolled.dir;
    });

    // Skipped: with the charts on main since the egress/probe changes, deleting one of local's two
    // web pods under this load answered 17 of the requests with 503 through the Ingress (it passed
    // before them, and the rolling update above still fails none). Re-enable once that is fixed.
    it('killing a web pod under load through the Ingress fails no request', async () => {
      const load = steadyLoad(cluster.ingressUrl!, HOST, '/login');
      await new Promise((r) => setTimeout(r, 2000));
      const victim = (await podsOf(webSelector()))[0];
      await cluster.kubectl.run(['delete', 'pod', victim.metadata.name, '-n', NAMESPACE, '--wait=false']);
      await waitForWorkloads(cluster.kubectl, NAMESPACE, objects);
      await new Promise((r) => setTimeout(r, 3000));
      const result = await load.stop();
      expect(result.requests).toBeGreaterThan(50);
      expect(result.failures).toEqual([]);
    });

    it.runIf(config.monitoring.enabled)(`monitoring: stopping Postgres fires ${ALERTS.postgresDown} after its for: (${POSTGRES_DOWN_FOR_SECONDS}s), and it resolves once Postgres is back`, async () => {
      const rule = (of('PrometheusRule')[0] as any).spec.groups.flatMap((g: any) => g.rules).find((r: any) => r.alert === ALERTS.postgresDown);
      expect(rule.for).toBe(`${POSTGRES_DOWN_FOR_SECONDS}s`);
      // Every group has had its first evaluation by now, or does within its interval of the rules'
      // last (re)load (Prometheus's start or configuration reload, e.g. after the node restart):
      // every rule evaluated without error.
      const runtime = await prometheus<{ startTime: string; lastConfigTime: string }>('/api/v1/status/runtimeinfo');
      const loadedAt = Math.max(rulesLoadedAt, Date.parse(runtime.startTime) || 0, Date.parse(runtime.lastConfigTime) || 0);
      let groups: Awaited<ReturnType<typeof ruleGroups>> = [];
      await waitFor('every rule evaluated without error', async () => unhealthyRules(groups = await ruleGroups()).length === 0,
        Math.max(10_000, loadedAt + (longestGroupSeconds + 30) * 1000 - Date.now()), 2000).catch((error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify(unhealthyRules(groups))}`);
      });
      const postgresDown = async () => (await prometheus<{ alerts: any[] }>('/api/v1/alerts')).alerts.filter((a) => a.labels.alertname === ALERTS.postgresDown);
      expect(await postgresDown()).toEqual([]);
      const stopped = Date.now();
      await cluster.kubectl.run(['scale', 'statefulset', 'postgres', '-n', NAMESPACE, '--replicas=0']);
      try {
        let pendingSeen = false;
        let alert: any;
        await waitFor(`${ALERTS.postgresDown} firing`, async () => {
          [alert] = await postgresDown();
          if (alert?.state === 'pending') pendingSeen = true;
          return alert?.state === 'firing';
        }, 180_000, 1000);
        const firedAfter = (Date.now() - stopped) / 1000;
        progress(`${ALERTS.postgresDown} firing ${firedAfter.toFixed(1)}s after Postgres was scaled to 0 (for: ${POSTGRES_DOWN_FOR_SECONDS}s, scrape and evaluation every ${SCRAPE_SECONDS}s)`);
        expect(pendingSeen).toBe(true);
        expect(alert.labels).toMatchObject({ severity: 'critical', namespace: NAMESPACE });
        expect(alert.annotations.runbook_url).toMatch(/#expensepostgresdown$/);
        // Pending for the whole for: (activeAt is when the condition first held), and firing no
        // later than for: + the pod's shutdown + one scrape and two evaluations after it.
        expect((Date.now() - Date.parse(alert.activeAt)) / 1000).toBeGreaterThanOrEqual(POSTGRES_DOWN_FOR_SECONDS);
        expect(firedAfter).toBeGreaterThanOrEqual(POSTGRES_DOWN_FOR_SECONDS);
        expect(firedAfter).toBeLessThanOrEqual(POSTGRES_DOWN_FOR_SECONDS + 3 * SCRAPE_SECONDS + 30);
      } finally {
        // Later tests need Postgres.
        await cluster.kubectl.run(['scale', 'statefulset', 'postgres', '-n', NAMESPACE, '--replicas=1']);
        await waitForWorkloads(cluster.kubectl, NAMESPACE, objects);
      }
      await waitFor(`${ALERTS.postgresDown} resolved`, async () => (await postgresDown()).length === 0, 60_000, 1000);
    });

    it('deleting the app leaves the Postgres claims (persistentVolumeClaimRetentionPolicy Retain)', async () => {
      const sts = of('StatefulSet').find((s) => s.metadata.name === 'postgres') as any;
      expect(sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
      const claimBefore = await cluster.kubectl.json(['get', 'pvc', 'data-postgres-0', '-n', NAMESPACE]);

      // Everything but the Namespace (deleting the Namespace deletes every claim in it by design).
      const appFiles = manifestFiles(dir).filter((f) => !/-namespace-/.test(f));
      await cluster.kubectl.run(['delete', '--wait=true', '--timeout=120s', ...appFiles.flatMap((f) => ['-f', f])]);
      await waitFor('postgres pods gone', async () => {
        const pods = await cluster.kubectl.json<{ items: any[] }>(['get', 'pods', '-n', NAMESPACE]);
        return pods.items.length === 0;
      }, 120_000, 500);

      const claim = await cluster.kubectl.json(['get', 'pvc', 'data-postgres-0', '-n', NAMESPACE]);
      expect(claim.metadata.uid).toBe(claimBefore.metadata.uid);
      expect(claim.metadata.deletionTimestamp).toBeUndefined();
      expect(claim.metadata.ownerReferences ?? []).toEqual([]);
      expect(claim.status.phase).toBe('Bound');
      const volume = await cluster.kubectl.json(['get', 'pv', claim.spec.volumeName]);
      expect(volume.status.phase).toBe('Bound');

      // Re-deploying reattaches the retained claim to the new postgres-0.
      const { warnings } = await serverSideApply(cluster.kubectl, { files: manifestFiles(dir) });
      expect(warnings).toEqual([]);
      await waitForWorkloads(cluster.kubectl, NAMESPACE, objects);
      const again = await cluster.kubectl.json(['get', 'pvc', 'data-postgres-0', '-n', NAMESPACE]);
      expect(again.metadata.uid).toBe(claimBefore.metadata.uid);
      const pod = await cluster.kubectl.json(['get', 'pod', 'postgres-0', '-n', NAMESPACE]);
      expect(pod.spec.volumes.find((v: any) => v.name === 'data')?.persistentVolumeClaim?.claimName).toBe('data-postgres-0');
    });
  });
}
