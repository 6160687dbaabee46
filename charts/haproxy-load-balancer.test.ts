import { createHash } from 'node:crypto';
import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { formatImageReference } from '@expense-tracker/model/images';
import { HAPROXY } from '@expense-tracker/model/components';
import { renderHaproxyConfig } from './haproxy-config.js';
import { loadEnvironment, type EnvironmentConfig } from '@expense-tracker/model/environment';
import { HaproxyLoadBalancer } from './haproxy-load-balancer.js';
import { synthesizeEnvironment, type KubeObject } from './synthesize.js';
import { validateManifests } from './validate.js';
import { Web } from './web.js';

const env = (name: string, set: string[] = []) => loadEnvironment(name, { imageTag: '1.0.0', set });
const find = (objects: KubeObject[], kind: string, name: string): any => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  expect(o, `${kind}/${name}`).toBeDefined();
  return o;
};
const networkPolicy = (objects: KubeObject[], name: string) => objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === name) as any;

describe('HaproxyLoadBalancer in the chart', () => {
  for (const name of ['local', 'ibm']) {
    const environment = env(name);
    const objects = synthesizeEnvironment(environment);

    it(`${name}: ConfigMap carries the rendered cfg and the pod template its SHA-256`, () => {
      const cm = find(objects, 'ConfigMap', 'haproxy-config');
      const cfg = renderHaproxyConfig(environment, { kind: 'kubernetes' });
      expect(cm.data).toEqual({ 'haproxy.cfg': cfg });
      const deployment = find(objects, 'Deployment', 'haproxy');
      expect(deployment.spec.template.metadata.annotations['checksum/haproxy-config']).toBe(createHash('sha256').update(cfg).digest('hex'));
    });

    it(`${name}: Deployment runs the pinned official image as UID 10004 with a read-only root and writable emptyDirs`, () => {
      const d = find(objects, 'Deployment', 'haproxy');
      expect(d.spec.replicas).toBe(environment.haproxy.replicas);
      const pod = d.spec.template.spec;
      const [c] = pod.containers;
      // By digest in ibm, by tag in local (images built locally under the tag).
      expect(c.image).toBe(formatImageReference(environment.haproxy.image));
      expect(c.image.includes('@sha256:')).toBe(name === 'ibm');
      expect(c.args).toEqual(['haproxy', '-f', '/usr/local/etc/haproxy/haproxy.cfg']);
      expect(pod.securityContext).toMatchObject({ runAsUser: HAPROXY.uid, runAsGroup: HAPROXY.uid, fsGroup: HAPROXY.uid, fsGroupChangePolicy: 'OnRootMismatch', runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(c.volumeMounts).toEqual([
        { mountPath: '/usr/local/etc/haproxy', name: 'config', readOnly: true },
        { mountPath: '/var/run/haproxy', name: 'run' },
        { mountPath: '/tmp', name: 'tmp' },
      ]);
      expect(pod.volumes.map((v: any) => [v.name, v.configMap?.name ?? Object.keys(v)[0]])).toEqual([
        ['config', 'haproxy-config'],
        ['run', 'emptyDir'],
        ['tmp', 'emptyDir'],
      ]);
      // Started and ready: the public frontend answers its monitor-uri. Alive: the stats
      // listener answers (a soft stop closes the public frontend first, which is not a wedge).
      for (const probe of ['startupProbe', 'readinessProbe']) {
        expect(c[probe].httpGet, probe).toMatchObject({ path: '/haproxy-healthz', port: 8080 });
      }
      expect(c.livenessProbe.httpGet).toMatchObject({ path: HAPROXY.statsUri, port: HAPROXY.statsPort });
      expect(c.ports).toEqual([
        { containerPort: 8080, name: 'http' },
        { containerPort: 8404, name: 'stats' },
      ]);
      expect(c.resources.requests.cpu).toBe(environment.haproxy.resources.requests.cpu);
      // Soft stop after the preStop pause; the grace period outlasts hard-stop-after (25 s).
      expect(c.lifecycle.preStop.exec.command.join(' ')).toContain('kill -USR1 1');
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(25 + 5);
    });

    it(`${name}: Ingress → haproxy Service → HAProxy; web pods reachable only from HAProxy`, () => {
      expect(find(objects, 'Ingress', 'expense-web').spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'haproxy', port: { number: 80 } });
      expect(find(objects, 'Service', 'haproxy').spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'http', port: 80, targetPort: 'http' }] });
      expect(find(objects, 'Service', 'haproxy-stats').spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'stats', port: 8404, targetPort: 'stats' }] });
      const headless = find(objects, 'Service', 'expense-web-headless');
      const web = find(objects, 'Deployment', 'expense-web');
      expect(headless.spec.clusterIP).toBe('None');
      expect(headless.spec.publishNotReadyAddresses).toBe(false);
      expect(headless.spec.selector).toEqual(web.spec.selector.matchLabels);
      expect(headless.spec.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP', targetPort: 'http' }]);

      const haproxyPods = find(objects, 'Deployment', 'haproxy').spec.selector.matchLabels;
      const toWeb = networkPolicy(objects, 'allow-haproxy-to-web');
      expect(toWeb.spec.podSelector.matchLabels).toEqual(web.spec.selector.matchLabels);
      expect(toWeb.spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: haproxyPods } }], ports: [{ protocol: 'TCP', port: 8080 }] }]);
      const toHaproxy = networkPolicy(objects, 'allow-ingress-controller-to-haproxy');
      expect(toHaproxy.spec.podSelector.matchLabels).toEqual(haproxyPods);
      expect(toHaproxy.spec.ingress[0].from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': environment.ingressControllerNamespace } } }]);
      expect(networkPolicy(objects, 'allow-ingress-controller-to-web')).toBeUndefined();
      expect(validateManifests(objects)).toEqual([]);
    });
  }

  it('ibm: 2 replicas spread over nodes with a PodDisruptionBudget; stats scraped from Prometheus\'s namespace through one policy', () => {
    const objects = synthesizeEnvironment(env('ibm'));
    const d = find(objects, 'Deployment', 'haproxy');
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
    expect(find(objects, 'PodDisruptionBudget', 'haproxy').spec.maxUnavailable).toBe(1);
    expect(networkPolicy(objects, 'allow-prometheus-to-haproxy-stats').spec.ingress[0]).toEqual({
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
      ports: [{ protocol: 'TCP', port: 'stats' }],
    });
    expect(networkPolicy(objects, 'allow-metrics-scrape-to-haproxy')).toBeUndefined();
  });

  it('metricsScrapeNamespaces admits other scrapers to the stats port (8404); Prometheus\'s namespace only without monitoring', () => {
    const scrapers = (objects: KubeObject[]) => networkPolicy(objects, 'allow-metrics-scrape-to-haproxy')?.spec.ingress[0];
    const others = scrapers(synthesizeEnvironment(env('ibm', ['haproxy.metricsScrapeNamespaces={monitoring,logging}'])));
    expect(others).toEqual({ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'logging' } } }], ports: [{ protocol: 'TCP', port: 8404 }] });
    const withoutMonitoring = synthesizeEnvironment(env('ibm', ['monitoring.enabled=false', 'haproxy.metricsScrapeNamespaces={monitoring}']));
    expect(scrapers(withoutMonitoring).from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
    expect(networkPolicy(withoutMonitoring, 'allow-prometheus-to-haproxy-stats')).toBeUndefined();
  });

  it('local: no metrics scrape allowed; one replica gets no PodDisruptionBudget (it would block node drains)', () => {
    expect(networkPolicy(synthesizeEnvironment(env('local')), 'allow-metrics-scrape-to-haproxy')).toBeUndefined();
    const objects = synthesizeEnvironment(env('local', ['haproxy.replicas=1']));
    expect(objects.find((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === 'haproxy')).toBeUndefined();
  });

  it('a cfg change rolls the pods; an unrelated change does not', () => {
    const checksum = (e: EnvironmentConfig) =>
      find(synthesizeEnvironment(e), 'Deployment', 'haproxy').spec.template.metadata.annotations['checksum/haproxy-config'];
    const base = checksum(env('ibm'));
    expect(checksum(env('ibm', ['haproxy.balance.web=leastconn']))).not.toBe(base);
    expect(checksum(env('ibm', ['haproxy.timeouts.serverSeconds=60']))).not.toBe(base);
    expect(checksum(env('ibm', ['web.replicas=4']))).toBe(base);
  });

  it('replaces-ingress: LoadBalancer Service, no Ingress, HTTP port open to any source', () => {
    const objects = synthesizeEnvironment(env('ibm', ['haproxy.placement=replaces-ingress']));
    expect(objects.some((o) => o.kind === 'Ingress')).toBe(false);
    expect(find(objects, 'Service', 'haproxy').spec).toMatchObject({ type: 'LoadBalancer', externalTrafficPolicy: 'Local' });
    expect(find(objects, 'Service', 'haproxy-stats').spec.type).toBe('ClusterIP');
    const any = networkPolicy(objects, 'allow-any-to-haproxy');
    expect(any.spec.ingress).toEqual([{ ports: [{ protocol: 'TCP', port: 8080 }] }]);
    expect(networkPolicy(objects, 'allow-ingress-controller-to-haproxy')).toBeUndefined();
    expect(validateManifests(objects)).toEqual([]);
  });

  it('disabled: no HAProxy objects, the Ingress targets expense-web directly', () => {
    const objects = synthesizeEnvironment(env('local', ['haproxy.enabled=false', 'compose.enabled=false']));
    expect(objects.filter((o) => /haproxy|headless-web|expense-web-headless/.test(o.metadata.name))).toEqual([]);
    expect(find(objects, 'Ingress', 'expense-web').spec.rules[0].http.paths[0].backend.service.name).toBe('expense-web');
    expect(networkPolicy(objects, 'allow-ingress-controller-to-web').spec.podSelector.matchLabels).toEqual(
      find(objects, 'Deployment', 'expense-web').spec.selector.matchLabels,
    );
    expect(validateManifests(objects)).toEqual([]);
  });

  it('refuses a disabled environment and a bad preStop pause', () => {
    const chart = new Chart(Testing.app(), 'test');
    const backend = new Web(chart, 'Web');
    expect(() => new HaproxyLoadBalancer(chart, 'a', { environment: env('local', ['haproxy.enabled=false', 'compose.enabled=false']), backend })).toThrow(
      /haproxy.enabled is false in environment "local"/,
    );
    expect(() => new HaproxyLoadBalancer(chart, 'c', { environment: env('local'), backend, preStopSleepSeconds: -1 })).toThrow(/preStopSleepSeconds/);
  });

  it('balances the web workload it is given: headless Service over its pods, a policy letting HAProxy in', () => {
    const chart = new Chart(Testing.app(), 'test');
    const web = new Web(chart, 'Web', { replicas: 3 });
    const haproxy = new HaproxyLoadBalancer(chart, 'Haproxy', { environment: env('ibm'), backend: web });
    web.allowFrom(haproxy);
    const objects = chart.toJson() as KubeObject[];
    expect(find(objects, 'Service', 'expense-web-headless').spec.selector).toEqual(web.selector);
    expect(networkPolicy(objects, 'allow-haproxy-to-web').spec.ingress[0].from).toEqual([{ podSelector: { matchLabels: haproxy.selector } }]);
    expect(find(objects, 'PodDisruptionBudget', 'haproxy').spec).toEqual({ maxUnavailable: 2 - 1, selector: { matchLabels: haproxy.selector } });
  });
});
