/**
 * The scanner gate's tools against hand-written manifests: a Deployment that follows every rule
 * both scanners check passes; each rule broken on purpose is reported with its check ID and the
 * object; a `checkov.io/skip` or `kube-score/ignore` annotation turns exactly that finding off.
 * Then the gate itself: both synthesized environments have zero findings, and the only accepted
 * ones are those docs/security.md lists.
 * The tools are the real ones (`npm run scanners -- setup`, run by .ci/setup.d/15-scanners).
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatScanFindings, runCheckov, runKubeScore, type ScanFinding } from '../../scripts/scan/scan.js';
import { APP_UID } from '@expense-tracker/model/app-contract';
import { ensureScanners } from '../../scripts/scan/tools.js';
import { memoryIO } from '../../scripts/lib/command-io.js';
import { synthCommand } from '../../scripts/synth.js';
import { validateCommand } from '../../scripts/validate.js';

const DIGEST = 'sha256:0637954999d01b7c9ce9167db2da50656e2590d3b884f1c600c5f63bb6e6773c';
const labels = { 'app.kubernetes.io/name': 'demo', 'app.kubernetes.io/instance': 'demo' };

/** A Deployment + Service + PDB + NetworkPolicy that both scanners accept. */
function cleanObjects(): any[] {
  const container = {
    name: 'demo',
    image: `registry.example.com/demo:1.0.0@${DIGEST}`,
    imagePullPolicy: 'IfNotPresent',
    ports: [{ name: 'http', containerPort: 8080 }],
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    },
    resources: {
      requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '64Mi' },
      limits: { cpu: '500m', memory: '256Mi', 'ephemeral-storage': '128Mi' },
    },
    readinessProbe: { httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 10 },
    volumeMounts: [{ name: 'credentials', mountPath: '/run/secrets/demo', readOnly: true }],
  };
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'demo', namespace: 'demo', labels },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
            affinity: {
              podAntiAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [
                  { weight: 100, podAffinityTerm: { labelSelector: { matchLabels: labels }, topologyKey: 'kubernetes.io/hostname' } },
                ],
              },
            },
            containers: [container],
            volumes: [{ name: 'credentials', secret: { secretName: 'demo', defaultMode: 0o440 } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'demo', namespace: 'demo', labels },
      spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'demo', namespace: 'demo', labels },
      spec: { minAvailable: 1, selector: { matchLabels: labels } },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'demo', namespace: 'demo', labels },
      spec: { podSelector: { matchLabels: labels }, policyTypes: ['Ingress', 'Egress'], ingress: [{ ports: [{ port: 8080 }] }], egress: [] },
    },
  ];
}

let root: string;
let n = 0;
/** Writes the objects, one file each, into a fresh directory. */
async function manifests(objects: any[]): Promise<string> {
  const dir = join(root, String(n++));
  await import('node:fs/promises').then((fs) => fs.mkdir(dir));
  await Promise.all(objects.map((o, i) => writeFile(join(dir, `${i}-${o.kind.toLowerCase()}.yaml`), stringify(o))));
  return dir;
}
const deployment = (objects: any[]) => objects[0];
const demo = (objects: any[]) => deployment(objects).spec.template.spec.containers[0];
const ids = (findings: ScanFinding[]) => findings.map((f) => `${f.object} ${f.message.split(':')[0]}`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'scanners-'));
  await ensureScanners();
}, 1_800_000);
afterAll(() => rm(root, { recursive: true, force: true }));

describe('checkov', () => {
  it('passes a Deployment that follows the rules', async () => {
    expect(await runCheckov(await manifests(cleanObjects()))).toEqual([]);
  });

  it('reports a tag without digest, a low UID and a Secret in the environment', async () => {
    const objects = cleanObjects();
    demo(objects).image = 'registry.example.com/demo:1.0.0';
    demo(objects).securityContext.runAsUser = 999;
    demo(objects).env = [{ name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'demo', key: 'password' } } }];
    const found = await runCheckov(await manifests(objects));
    expect(ids(found)).toEqual(expect.arrayContaining(['Deployment/demo CKV_K8S_43', 'Deployment/demo CKV_K8S_15', 'Deployment/demo CKV_K8S_40', 'Deployment/demo CKV_K8S_35']));
    expect(found.find((f) => f.message.startsWith('CKV_K8S_43'))).toMatchObject({ field: 'spec.template.spec.containers[0].image', file: '0-deployment.yaml' });
  });

  // Two checkov runs: up to a minute each on a busy 2-core machine.
  it('honours a checkov.io/skip annotation for exactly the named check', async () => {
    const objects = cleanObjects();
    demo(objects).image = 'registry.example.com/demo:1.0.0';
    demo(objects).imagePullPolicy = 'Always';
    deployment(objects).metadata.annotations = { 'checkov.io/skip1': 'CKV_K8S_43=built per environment, no registry digest yet' };
    expect(await runCheckov(await manifests(objects))).toEqual([]);
    delete deployment(objects).metadata.annotations;
    expect(ids(await runCheckov(await manifests(objects)))).toEqual(['Deployment/demo CKV_K8S_43']);
  }, 300_000);
});

describe('kube-score', () => {
  it('passes a Deployment that follows the rules', async () => {
    expect(await runKubeScore(await manifests(cleanObjects()))).toEqual([]);
  });

  it('reports missing ephemeral-storage, identical probes and a pod without egress policy', async () => {
    const objects = cleanObjects();
    delete demo(objects).resources.requests['ephemeral-storage'];
    demo(objects).livenessProbe = structuredClone(demo(objects).readinessProbe);
    objects[3].spec.policyTypes = ['Ingress'];
    delete objects[3].spec.egress;
    const found = await runKubeScore(await manifests(objects));
    expect(ids(found).sort()).toEqual([
      'Deployment/demo container-ephemeral-storage-request-and-limit',
      'Deployment/demo pod-networkpolicy',
      'Deployment/demo pod-probes-identical',
    ]);
    expect(found.find((f) => f.message.startsWith('container-ephemeral'))).toMatchObject({ field: 'container demo', message: expect.stringMatching(/request is not set/) });
  });

  it('honours kube-score/ignore for the named test only', async () => {
    const objects = cleanObjects();
    deployment(objects).spec.replicas = 1;
    expect(ids(await runKubeScore(await manifests(objects)))).toEqual(['Deployment/demo deployment-replicas']);
    deployment(objects).metadata.annotations = { 'kube-score/ignore': 'deployment-replicas' };
    expect(await runKubeScore(await manifests(objects))).toEqual([]);
  });
});

describe('npm run validate', () => {
  it('runs the scanners by default, naming object, field and check; --no-scanners skips them', async () => {
    const out = join(root, 'dist');
    const io = memoryIO();
    expect(await synthCommand(['--out', out, '--env', 'local'], io), io.stderr()).toBe(0);
    const file = join(out, 'local', '16-deployment-expense-web.yaml');
    const text = await readFile(file, 'utf8');
    expect(text).toContain(`runAsUser: ${APP_UID}`);
    await writeFile(file, text.replaceAll(`runAsUser: ${APP_UID}`, 'runAsUser: 1000'));
    const validate = memoryIO();
    expect(await validateCommand([join(out, 'local')], validate)).toBe(1);
    expect(validate.stderr()).toMatch(/local: Deployment\/expense-web: .*: checkov CKV_K8S_40: Containers should run as a high UID/);
    expect(validate.stderr()).toMatch(/local: Deployment\/expense-web: container web: kube-score container-security-context-user-group-id: The container is running with a low user ID/);
    const quick = memoryIO();
    expect(await validateCommand(['--no-scanners', join(out, 'local')], quick), quick.stderr()).toBe(0);
    expect(quick.stdout()).toContain('scanners skipped');
    expect(await validateCommand(['--scanner', join(out, 'local')], quick)).toBe(2);
  });
});

describe('the synthesized environments', () => {
  // Accepted findings, each written on its object with a reason (docs/security.md, "Accepted findings").
  async function accepted(dir: string): Promise<string[]> {
    const found: string[] = [];
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml'))) {
      for (const doc of parseAllDocuments(await readFile(join(dir, file), 'utf8')).map((d) => d.toJS())) {
        for (const [key, value] of Object.entries((doc?.metadata?.annotations ?? {}) as Record<string, string>)) {
          if (key.startsWith('checkov.io/skip')) found.push(`${doc.kind}/${doc.metadata.name} checkov ${value.split('=')[0]}`);
          if (key === 'kube-score/ignore') for (const test of value.split(',')) found.push(`${doc.kind}/${doc.metadata.name} kube-score ${test.trim()}`);
        }
      }
    }
    return found.sort();
  }

  it.each([
    [
      'local',
      // Every image of a local cluster runs by tag (loaded into the node, no registry digest).
      ['Deployment/expense-import-worker', 'Deployment/expense-web', 'Deployment/haproxy', 'Deployment/redis', 'StatefulSet/postgres']
        .flatMap((o) => [`${o} checkov CKV_K8S_15`, `${o} checkov CKV_K8S_43`])
        .concat([
          'Deployment/expense-import-worker kube-score deployment-replicas',
          'Deployment/redis kube-score deployment-replicas',
          'Deployment/redis kube-score deployment-strategy',
        ]),
    ],
    [
      'ibm',
      [
        // The app image runs by tag (pulled Always) until CI passes its digest.
        'Deployment/expense-import-worker checkov CKV_K8S_43',
        'Deployment/expense-web checkov CKV_K8S_43',
        'Deployment/redis kube-score deployment-replicas',
        'Deployment/redis kube-score deployment-strategy',
        // Patroni's DCS is the Kubernetes API; its role Services select a label set at runtime.
        'StatefulSet/postgres checkov CKV_K8S_38',
        'Service/postgres kube-score service-targets-pod',
        'Service/postgres-replicas kube-score service-targets-pod',
        // The backup CronJobs kubectl-exec through the API, with kubectl by tag.
        ...['CronJob/postgres-backup-full', 'CronJob/postgres-backup-diff'].flatMap((o) => [`${o} checkov CKV_K8S_15`, `${o} checkov CKV_K8S_38`, `${o} checkov CKV_K8S_43`]),
        // Monitoring: one exporter each, by tag (no digest recorded).
        ...['Deployment/postgres-exporter', 'Deployment/redis-exporter'].flatMap((o) => [`${o} checkov CKV_K8S_15`, `${o} checkov CKV_K8S_43`, `${o} kube-score deployment-replicas`]),
      ],
    ],
  ])('dist/%s: zero checkov and kube-score findings, and only the documented accepted ones', async (env, expected) => {
    const out = join(root, `gate-${env}`);
    const io = memoryIO();
    expect(await synthCommand(['--out', out, '--env', env], io), io.stderr()).toBe(0);
    const dir = join(out, env);
    expect(formatScanFindings(await runCheckov(dir))).toBe('');
    expect(formatScanFindings(await runKubeScore(dir))).toBe('');
    expect(await accepted(dir)).toEqual([...expected].sort());
    // The gate as users run it: `npm run validate` runs the scanners by default.
    const validate = memoryIO();
    expect(await validateCommand([dir], validate), validate.stderr()).toBe(0);
    expect(validate.stdout()).toContain('no findings (schema, policy, checkov, kube-score)');
  }, 300_000);
});
