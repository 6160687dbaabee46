/**
 * The cluster tier's checks for one environment's manifests, run against a real control plane
 * (testkit/src/test-cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler; kwok
 * plays the kubelets). One fresh cluster per test file, shared by its tests, which run in order:
 * apply -> admission -> readiness -> idempotence -> rolling update -> deletion.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../charts/synthesize.js';
import { startCluster, stopCluster, type TestCluster } from '@expense-tracker/testkit/test-cluster/cluster';
import { waitFor } from '@expense-tracker/testkit/test-cluster/kubectl';
import { FIELD_MANAGER, deployEnvironment, secretsYaml, deploymentReady, manifestFiles, serverSideApply, synth, waitForWorkloads, watch } from './support.js';

const NAMESPACE = 'expense-tracker';

/** Storage class each environment's claims must bind with (model/environments/). */
const STORAGE_CLASS: Record<string, string> = { local: 'standard', ibm: 'ibmc-vpc-block-10iops-tier' };

export function describeEnvironment(env: 'local' | 'ibm'): void {
  describe(`dist/${env} on a real control plane`, () => {
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
      cluster = await startCluster({ dir: join(work, 'cluster'), realNode: false });
      ({ dir, objects } = await synth(env, join(work, 'dist')));
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
      for (const pvc of pvcs.items) expect(pvc.spec.storageClassName, pvc.metadata.name).toBe(STORAGE_CLASS[env]);

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
      const rolled = await synth(env, join(work, 'dist-rolled'), [`image.tag=${newTag}`]);

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
        const { warnings } = await serverSideApply(cluster.kubectl, { files: manifestFiles(rolled.dir) });
        expect(warnings).toEqual([]);
        await waitFor('expense-web rollout', async () => {
          const d = await cluster.kubectl.json(['get', 'deployment', 'expense-web', '-n', NAMESPACE]);
          const all = [...podState.values()];
          return deploymentReady(d) && all.length === desired && all.every((p) => p.image.endsWith(`:${newTag}`) && p.ready);
        }, 180_000, 250);
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
