import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alertingRules, buildRuleGroups } from '../monitoring/rules.js';
import { redisPasswordMapScript } from '../monitoring/targets.js';
import { formatImageReference } from '@expense-tracker/model/images';
import { loadEnvironment, type EnvironmentConfig } from '@expense-tracker/model/environment';
import { App } from 'cdk8s';
import { ExpenseTrackerChart } from './expense-tracker-chart.js';
import type { Monitoring } from './monitoring.js';
import { sortObjects, synthesize, type KubeObject } from './synthesize.js';
import { formatFindings, validateManifests } from './validate.js';

function synth(env: EnvironmentConfig): { objects: KubeObject[]; monitoring: Monitoring } {
  const chart = new ExpenseTrackerChart(new App(), 'test', { environment: env });
  return { objects: sortObjects(chart.toJson() as KubeObject[]), monitoring: chart.monitoring! };
}

// Monitoring is on for ibm, off for local (see docs/observability.md).
const ibm = loadEnvironment('ibm', { imageTag: '1.0.0' });
const settings = ibm.monitoring;
const find = (objects: KubeObject[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name) as any;

describe('Monitoring', () => {
  it('synthesizes monitors, exporters, rules and dashboards that validate with the chart', () => {
    const { objects } = synth(ibm);
    expect(formatFindings(validateManifests(objects))).toBe('');
    const kinds = objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1').map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds.sort()).toEqual([
      'PodMonitor/patroni',
      'PrometheusRule/expense-tracker',
      'ServiceMonitor/expense-web',
      'ServiceMonitor/haproxy',
      'ServiceMonitor/postgres-exporter',
      'ServiceMonitor/redis-exporter',
    ]);
    for (const name of ['expense-app', 'expense-haproxy', 'expense-data']) {
      const cm = find(objects, 'ConfigMap', `grafana-dashboard-${name}`);
      expect(cm.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
      expect(cm.metadata.annotations).toEqual({ grafana_folder: 'Expense Tracker' });
      expect(JSON.parse(cm.data[`${name}.json`]).uid).toBe(`${name}-ibm`);
    }
  });

  it('labels every monitor and rule for the Prometheus selector and sets explicit job labels', () => {
    const { objects } = synth(ibm);
    for (const o of objects.filter((x) => x.apiVersion === 'monitoring.coreos.com/v1')) expect(o.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    // The app's metrics through the `metrics` port of Service expense-web (never the Ingress's `http`).
    const web = find(objects, 'ServiceMonitor', 'expense-web');
    expect(web.spec.endpoints).toEqual([
      { interval: '30s', path: '/metrics', port: 'metrics', relabelings: [{ action: 'replace', replacement: 'expense-web', targetLabel: 'job' }] },
    ]);
    expect(find(objects, 'Service', 'expense-web').spec.ports.find((p: any) => p.name === 'metrics')).toEqual({ name: 'metrics', port: 9464, targetPort: 'metrics' });
    // Patroni: every member's REST API, the StatefulSet's pods only (not the backup jobs').
    const patroni = find(objects, 'PodMonitor', 'patroni');
    expect(patroni.spec.podMetricsEndpoints).toEqual([
      { interval: '30s', path: '/metrics', port: 'patroni', relabelings: [{ action: 'replace', replacement: 'patroni', targetLabel: 'job' }] },
    ]);
    expect(patroni.spec.selector.matchLabels).toEqual(find(objects, 'StatefulSet', 'postgres').spec.selector.matchLabels);
    const single = synth(loadEnvironment('ibm', { imageTag: '1.0.0', set: ['postgres.mode=single', 'postgres.backup.enabled=false'] })).objects;
    expect(single.some((o) => o.kind === 'PodMonitor')).toBe(false);
    expect(find(objects, 'ServiceMonitor', 'haproxy').spec.endpoints[0]).toMatchObject({ port: 'stats', path: '/metrics' });
    expect(find(objects, 'ServiceMonitor', 'postgres-exporter').spec.endpoints[0].relabelings[0].replacement).toBe('postgres-exporter');
  });

  it('runs the exporters restricted, with credentials from Secrets', () => {
    const { objects } = synth(ibm);
    const pg = find(objects, 'Deployment', 'postgres-exporter').spec.template.spec;
    expect(pg.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65534, fsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pg.automountServiceAccountToken).toBe(false);
    const c = pg.containers[0];
    expect(c.image).toBe('quay.io/prometheuscommunity/postgres-exporter:v0.11.1');
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: 'DATA_SOURCE_URI', value: 'postgres:5432/expenses?sslmode=disable' },
        { name: 'DATA_SOURCE_PASS_FILE', value: '/run/secrets/postgres-credentials/password' },
      ]),
    );
    expect(JSON.stringify(c.env)).not.toContain('secretKeyRef');
    expect(pg.volumes[0].secret).toMatchObject({ secretName: 'postgres-credentials', defaultMode: 0o440 });
    // redis_exporter: its JSON password map, derived from the Secret file by an init container
    // on the environment's Redis image into a memory emptyDir.
    const redisPod = find(objects, 'Deployment', 'redis-exporter').spec.template.spec;
    const redis = redisPod.containers[0];
    expect(JSON.stringify(redisPod)).not.toContain('secretKeyRef');
    expect(redis.args).toEqual(['--redis.password-file=/run/redis-exporter/password-map.json']);
    expect(redis.env).toEqual(expect.arrayContaining([{ name: 'REDIS_ADDR', value: 'redis://redis:6379' }]));
    const [init] = redisPod.initContainers;
    expect(init.image).toBe(formatImageReference(ibm.redis.image));
    expect(init.image).toMatch(/@sha256:/);
    expect(init.command).toEqual(['sh', '-c', redisPasswordMapScript('redis://redis:6379', '/run/secrets/redis-credentials/password', '/run/redis-exporter/password-map.json')]);
    expect(init.securityContext).toEqual(redis.securityContext);
    expect(init.resources.limits['ephemeral-storage']).toBeDefined();
    expect(init.volumeMounts).toEqual([
      { mountPath: '/run/secrets/redis-credentials', name: 'secret-redis-credentials', readOnly: true },
      { mountPath: '/run/redis-exporter', name: 'derived-credentials' },
    ]);
    expect(redis.volumeMounts).toContainEqual({ mountPath: '/run/redis-exporter', name: 'derived-credentials', readOnly: true });
    expect(redisPod.volumes).toContainEqual({ name: 'derived-credentials', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
    expect(redisPod.volumes).toContainEqual({ name: 'secret-redis-credentials', secret: { secretName: 'redis-credentials', defaultMode: 0o440, items: [{ key: 'password', path: 'password' }] } });
    // Probes never scrape the monitored server: landing page and TCP.
    expect(redis.readinessProbe.httpGet).toMatchObject({ path: '/', port: 9121 });
    expect(redis.livenessProbe.tcpSocket).toEqual({ port: 9121 });
  });

  it('writes the password map for any password the Secret holds', () => {
    expect(() => redisPasswordMapScript('redis://redis:6379/0', '/p', '/m')).toThrow(/redisAddress: must be redis:\/\/host:port/);
    const dir = mkdtempSync(join(tmpdir(), 'password-map-'));
    try {
      for (const password of ['plain', 'q"u\\o"te\\', "100% $HOME `id` 'x'"]) {
        writeFileSync(join(dir, 'password'), `${password}\n`);
        execFileSync('sh', ['-c', redisPasswordMapScript('redis://redis:6379', join(dir, 'password'), join(dir, 'map.json'))]);
        expect(JSON.parse(readFileSync(join(dir, 'map.json'), 'utf8'))).toEqual({ 'redis://redis:6379': password });
        expect(statSync(join(dir, 'map.json')).mode & 0o777).toBe(0o600);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists the NetworkPolicy rules scraping and the exporters need', () => {
    const { monitoring } = synth(ibm);
    expect(monitoring.allowRules.map((r) => `${r.name}:${r.port}:${r.fromNamespaces ?? ''}`)).toEqual([
      'allow-prometheus-to-web-metrics:metrics:monitoring',
      'allow-prometheus-to-haproxy-stats:stats:monitoring',
      'allow-prometheus-to-postgres-exporter:metrics:monitoring',
      'allow-prometheus-to-redis-exporter:metrics:monitoring',
      'allow-postgres-exporter-to-postgres:5432:',
      'allow-prometheus-to-patroni:patroni:monitoring',
      'allow-redis-exporter-to-redis:6379:',
    ]);
  });

  it('carries the generated rule groups, every alert linked to a section of docs/runbooks.md', () => {
    const { objects, monitoring } = synth(ibm);
    const rule = find(objects, 'PrometheusRule', 'expense-tracker');
    expect(rule.spec.groups.map((g: any) => g.name)).toEqual(buildRuleGroups(settings, synthesize(ibm).topology).map((g) => g.name));
    const headings = new Set(
      readFileSync(new URL('../docs/runbooks.md', import.meta.url), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('## '))
        .map((l) => l.slice(3).trim().toLowerCase()),
    );
    const anchors = alertingRules(monitoring.ruleGroups).map((r) => r.annotations.runbook_url.split('#')[1]);
    expect(anchors.length).toBeGreaterThan(10);
    for (const a of anchors) expect(headings, `docs/runbooks.md has no section for #${a}`).toContain(a);
  });

  it('derives the topology from the environment', () => {
    expect(synthesize(ibm).topology).toEqual({
      environment: 'ibm',
      namespace: 'expense-tracker',
      webReplicas: 3,
      webDeployment: 'expense-web',
      haproxy: { frontend: 'http-in', backends: ['imports', 'api', 'web'], webBackend: 'web' },
      postgresDatabase: 'expenses',
      postgresVolumeClaims: 'data-postgres-[0-9]+',
      tlsHost: undefined,
      patroni: { scope: 'postgres' },
      backupCronJobs: ['postgres-backup-full', 'postgres-backup-diff'],
    });
    // The replication-lag and backup-age alerts come with them; a single PostgreSQL has neither.
    const alerts = alertingRules(synth(ibm).monitoring.ruleGroups).map((r) => r.alert);
    expect(alerts).toEqual(expect.arrayContaining(['ExpensePostgresReplicationLag', 'ExpensePostgresBackupTooOld']));
    const single = synthesize(loadEnvironment('ibm', { imageTag: '1.0.0', set: ['postgres.mode=single', 'postgres.backup.enabled=false'] })).topology;
    expect(single.patroni).toBeUndefined();
    expect(single.backupCronJobs).toBeUndefined();
    const tls = loadEnvironment('ibm', { imageTag: '1.0.0', set: ['ingress.tlsSecretName=expense-tls', 'haproxy.enabled=false', 'monitoring.enabled=true'] });
    const t = synthesize(tls).topology;
    expect(t.tlsHost).toBe('expense.example.us-south.containers.appdomain.cloud');
    expect(t.haproxy).toBeUndefined();
    const { objects } = synth(tls);
    expect(formatFindings(validateManifests(objects))).toBe('');
    expect(find(objects, 'Probe', 'ingress-tls').spec).toMatchObject({
      jobName: 'ingress-tls',
      prober: { url: 'prometheus-blackbox-exporter.monitoring.svc:9115' },
      targets: { staticConfig: { static: ['https://expense.example.us-south.containers.appdomain.cloud/healthz'] } },
    });
    expect(objects.some((o) => o.metadata.name === 'grafana-dashboard-expense-haproxy')).toBe(false);
  });

  it('the validator catches monitors that would scrape nothing', () => {
    const { objects } = synth(ibm);
    const broken = objects.map((o) => structuredClone(o)) as any[];
    find(broken, 'ServiceMonitor', 'haproxy').spec.endpoints[0].port = 'metrics';
    find(broken, 'PodMonitor', 'patroni').spec.selector.matchLabels = { app: 'nothing' };
    const rule = find(broken, 'PrometheusRule', 'expense-tracker');
    const alert = rule.spec.groups.flatMap((g: any) => g.rules).find((r: any) => r.alert);
    delete alert.annotations.runbook_url;
    const messages = formatFindings(validateManifests(broken));
    expect(messages).toContain('ServiceMonitor/haproxy: spec.endpoints[0].port: no selected Service (haproxy, haproxy-stats) has a port named "metrics"');
    expect(messages).toContain('PodMonitor/patroni: spec.selector.matchLabels: selects no pod template in the chart');
    expect(messages).toMatch(/PrometheusRule\/expense-tracker: spec\.groups\[0\]\.rules\[7\]\(ExpenseAvailabilityBudgetBurn\)\.annotations\.runbook_url: must link a runbook section/);
  });

  it('is deterministic', () => {
    const a = JSON.stringify(synth(ibm).objects);
    const b = JSON.stringify(synth(ibm).objects);
    expect(a).toBe(b);
  });
});

describe('monitoring in the chart', () => {
  it('is on for ibm, off for local; --set monitoring.enabled switches it', () => {
    const kinds = (env: EnvironmentConfig) => synthesize(env).objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1').length;
    expect(kinds(ibm)).toBe(6);
    expect(kinds(loadEnvironment('ibm', { imageTag: '1.0.0', set: ['monitoring.enabled=false'] }))).toBe(0);
    expect(kinds(loadEnvironment('local', { imageTag: '1.0.0' }))).toBe(0);
    const local = loadEnvironment('local', { imageTag: '1.0.0', set: ['monitoring.enabled=true'] });
    const result = synthesize(local);
    expect(result.objects.filter((o) => o.apiVersion === 'monitoring.coreos.com/v1').length).toBe(5);
    expect(formatFindings(validateManifests(result.objects))).toBe('');
    expect(result.dashboards.map((d) => d.dashboard.uid)).toEqual(['expense-app-local', 'expense-haproxy-local', 'expense-data-local']);
    expect(synthesize(loadEnvironment('local', { imageTag: '1.0.0' })).dashboards).toEqual([]);
  });
});
