import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { APP_METRICS_PORT, APP_MIGRATE_COMMAND, APP_PORT, APP_SERVER_COMMAND, APP_UID, HEALTH_PATH, READY_PATH } from '@expense-tracker/model/app-contract';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { PINNED_IMAGES } from '@expense-tracker/model/images';
import { serverDiscoverySeconds } from './haproxy-config.js';
import { PodDisruptionBudget } from './pod-disruption-budget.js';
import { Postgres } from './postgres.js';
import { Redis } from './redis.js';
import { synthesizeEnvironment, type KubeObject } from './synthesize.js';
import { validateManifests } from './validate.js';
import { Web } from './web.js';

const local = () => synthesizeEnvironment(loadEnvironment('local', { imageTag: '1.0.0' }));
const ibm = () => synthesizeEnvironment(loadEnvironment('ibm', { imageTag: '1.0.0' }));
/** ibm with one PostgreSQL pod instead of its Patroni cluster. */
const ibmSingle = () => synthesizeEnvironment(loadEnvironment('ibm', { imageTag: '1.0.0', set: ['postgres.mode=single', 'postgres.backup.enabled=false'] }));

function find(objects: KubeObject[], kind: string, name: string): any {
  const obj = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!obj) throw new Error(`${kind}/${name} not synthesized; have ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return obj;
}

const RECOMMENDED = ['name', 'instance', 'component', 'part-of', 'managed-by', 'version'].map((l) => `app.kubernetes.io/${l}`);

describe('ExpenseTrackerChart', () => {
  it('holds new web pods back from availability until HAProxy can have found them through DNS (30 s TTL + hold valid 10 s + rise 2 x inter 2 s)', () => {
    const env = loadEnvironment('local', { imageTag: '1' });
    expect(serverDiscoverySeconds(env)).toBe(44);
    const web = (objects: KubeObject[]) => objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'expense-web') as any;
    expect(web(synthesizeEnvironment(env)).spec.minReadySeconds).toBe(44);
  });

  it('synthesizes every object with explicit, stable names in one namespace', () => {
    const objects = local();
    const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    for (const id of [
      'Namespace/expense-tracker',
      'ConfigMap/expense-config',
      'Deployment/expense-web',
      'Service/expense-web',
      'PodDisruptionBudget/expense-web',
      'StatefulSet/postgres',
      'Service/postgres',
      'Service/postgres-headless',
      'Deployment/redis',
      'Service/redis',
      'Ingress/expense-web',
      'NetworkPolicy/default-deny-ingress',
      // HAProxy sits behind the Ingress (issue 4): ingress controller → haproxy → web.
      'NetworkPolicy/allow-ingress-controller-to-haproxy',
      'NetworkPolicy/allow-haproxy-to-web',
      'NetworkPolicy/allow-web-to-postgres',
      'NetworkPolicy/allow-web-to-redis',
    ]) {
      expect(ids).toContain(id);
    }
    expect(objects.some((o) => o.kind === 'Secret')).toBe(false);
    for (const o of objects) {
      if (o.kind === 'Namespace') expect(o.metadata.namespace).toBeUndefined();
      else expect(o.metadata.namespace).toBe('expense-tracker');
    }
  });

  it('enforces the restricted Pod Security Standard on the namespace', () => {
    const ns = find(local(), 'Namespace', 'expense-tracker');
    expect(ns.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
    });
  });

  it('puts the recommended labels on workloads and their pod templates', () => {
    for (const [kind, name] of [['Deployment', 'expense-web'], ['StatefulSet', 'postgres'], ['Deployment', 'redis']]) {
      const w = find(local(), kind, name);
      for (const label of RECOMMENDED) {
        expect(w.metadata.labels, `${kind}/${name} ${label}`).toHaveProperty([label]);
        expect(w.spec.template.metadata.labels, `${kind}/${name} template ${label}`).toHaveProperty([label]);
      }
      expect(w.spec.selector.matchLabels).not.toHaveProperty(['app.kubernetes.io/version']);
    }
  });

  it('renders the web Deployment to the app contract', () => {
    const d = find(local(), 'Deployment', 'expense-web');
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const pod = d.spec.template.spec;
    const web = pod.containers[0];
    expect(web.image).toBe('localhost:5000/expense-tracker:1.0.0');
    expect(web.command).toEqual(APP_SERVER_COMMAND);
    expect(web.ports).toEqual([
      { containerPort: APP_PORT, name: 'http' },
      { containerPort: APP_METRICS_PORT, name: 'metrics' },
    ]);
    expect(web.readinessProbe.httpGet).toMatchObject({ path: READY_PATH, port: APP_PORT });
    expect(web.livenessProbe.httpGet).toMatchObject({ path: HEALTH_PATH, port: APP_PORT });
    expect(web.startupProbe.httpGet).toMatchObject({ path: HEALTH_PATH });
    // Ephemeral storage: 50Mi of rotated logs plus the 64Mi /tmp emptyDir.
    expect(web.resources).toEqual({
      requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '114Mi' },
      limits: { cpu: '500m', memory: '256Mi', 'ephemeral-storage': '114Mi' },
    });
    expect(web.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(5);
    expect(web.envFrom).toEqual([{ configMapRef: { name: 'expense-config' } }]);
    // Secrets as files: `<NAME>_FILE` names a file of a mounted Secret volume.
    expect(web.env.map((e: any) => [e.name, e.value])).toEqual([
      ['PGPASSWORD_FILE', '/run/secrets/postgres-credentials/password'],
      ['REDIS_PASSWORD_FILE', '/run/secrets/redis-credentials/password'],
      ['SESSION_SECRET_FILE', '/run/secrets/expense-app/session-secret'],
      ['SENDGRID_API_KEY_FILE', '/run/secrets/expense-app/sendgrid-api-key'],
    ]);
    const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    for (const m of web.volumeMounts.filter((m: any) => m.mountPath.startsWith('/run/secrets/'))) {
      expect(m.readOnly, m.mountPath).toBe(true);
      expect(m.mountPath).toBe(`/run/secrets/${volumes[m.name].secret.secretName}`);
      expect(volumes[m.name].secret.defaultMode).toBe(0o440);
    }
    expect(pod.initContainers.map((c: any) => [c.name, c.command])).toEqual([['migrate', APP_MIGRATE_COMMAND]]);
    // The migration reads the database password only.
    expect(pod.initContainers[0].env).toEqual([{ name: 'PGPASSWORD_FILE', value: '/run/secrets/postgres-credentials/password' }]);
    const term = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0];
    expect(term.weight).toBe(100);
    expect(term.podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(term.podAffinityTerm.labelSelector.matchLabels).toEqual(d.spec.selector.matchLabels);
  });

  it('hardens every container in one place: seccomp, dropped capabilities, non-root, read-only root', () => {
    for (const objects of [local(), ibm()]) {
      for (const w of objects.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind)) as any[]) {
        const pod = w.spec.template.spec;
        expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
        expect(pod.securityContext.runAsNonRoot).toBe(true);
        for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
          expect(c.securityContext, `${w.metadata.name}/${c.name}`).toMatchObject({
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          });
          expect(c.securityContext.runAsUser, `${w.metadata.name}/${c.name}`).toBeGreaterThanOrEqual(10000);
          expect(c.securityContext.runAsGroup, `${w.metadata.name}/${c.name}`).toBeGreaterThanOrEqual(10000);
          // No Secret through the environment (environ is readable in /proc and crash dumps).
          for (const e of c.env ?? []) expect(e.valueFrom?.secretKeyRef, `${w.metadata.name}/${c.name} env ${e.name}`).toBeUndefined();
          for (const e of c.envFrom ?? []) expect(e.secretRef, `${w.metadata.name}/${c.name} envFrom`).toBeUndefined();
          // Ephemeral storage requested and limited, at least the rotated logs.
          expect(c.resources.requests['ephemeral-storage'], `${w.metadata.name}/${c.name}`).toMatch(/^\d+Mi$/);
          expect(c.resources.limits['ephemeral-storage']).toBe(c.resources.requests['ephemeral-storage']);
          expect(Number.parseInt(c.resources.limits['ephemeral-storage'], 10)).toBeGreaterThanOrEqual(50);
        }
        for (const c of pod.containers) {
          // Liveness ("wedged") and readiness ("can serve") answer different questions.
          expect(JSON.stringify(c.livenessProbe), `${w.metadata.name}/${c.name}`).not.toBe(JSON.stringify(c.readinessProbe));
        }
        expect(pod.securityContext.fsGroup, w.metadata.name).toBeGreaterThanOrEqual(10000);
        expect(pod.securityContext.fsGroupChangePolicy, w.metadata.name).toBe('OnRootMismatch');
        for (const v of pod.volumes ?? []) if (v.emptyDir) expect(v.emptyDir.sizeLimit, `${w.metadata.name} volume ${v.name}`).toBeDefined();
      }
    }
    expect(find(local(), 'Deployment', 'expense-web').spec.template.spec.securityContext.runAsUser).toBe(APP_UID);
  });

  it('routes the web Service port 80 to the named container port, and exposes metrics on the Service only to the cluster', () => {
    const svc = find(local(), 'Service', 'expense-web');
    expect(svc.spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http' },
      { name: 'metrics', port: APP_METRICS_PORT, targetPort: 'metrics' },
    ]);
    expect(svc.spec.selector).toEqual(find(local(), 'Deployment', 'expense-web').spec.selector.matchLabels);
    // Neither the Ingress (haproxy on or off) nor HAProxy's headless discovery Service routes to it.
    for (const objects of [local(), synthesizeEnvironment(loadEnvironment('local', { imageTag: '1.0.0', set: ['haproxy.enabled=false', 'compose.enabled=false'] }))]) {
      const backends = find(objects, 'Ingress', 'expense-web').spec.rules.flatMap((r: any) => r.http.paths.map((p: any) => p.backend.service));
      expect(backends.length).toBeGreaterThan(0);
      for (const b of backends) expect(b.port).toEqual({ number: 80 });
    }
    expect(find(local(), 'Service', 'expense-web-headless').spec.ports.map((p: any) => p.name)).toEqual(['http']);
  });

  it('gives single-mode PostgreSQL a StatefulSet with retained volumeClaimTemplates and a headless serviceName', () => {
    const objects = ibmSingle();
    const sts = find(objects, 'StatefulSet', 'postgres');
    expect(sts.spec.serviceName).toBe('postgres-headless');
    expect(sts.spec.volumeClaimTemplates).toEqual([
      expect.objectContaining({
        metadata: expect.objectContaining({ name: 'data' }),
        spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'ibmc-vpc-block-10iops-tier', resources: { requests: { storage: '20Gi' } } },
      }),
    ]);
    expect(sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
    const pod = sts.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsUser: 10002, runAsGroup: 10002, fsGroup: 10002, fsGroupChangePolicy: 'OnRootMismatch' });
    const pg = pod.containers[0];
    // ibm runs the official image by the digest recorded in the model.
    expect(pg.image).toBe(`postgres:${PINNED_IMAGES.postgres.tag}@${PINNED_IMAGES.postgres.digest}`);
    const env = Object.fromEntries(pg.env.map((e: any) => [e.name, e.value]));
    expect(env.PGDATA).toBe('/var/lib/postgresql/data/pgdata');
    // The official entrypoint's `file_env` reads each from `<NAME>_FILE`.
    for (const [v, key] of [['POSTGRES_USER', 'username'], ['POSTGRES_PASSWORD', 'password'], ['POSTGRES_DB', 'database']]) {
      expect(env[`${v}_FILE`]).toBe(`/run/secrets/postgres-credentials/${key}`);
    }
    expect(pg.volumeMounts.map((m: any) => m.mountPath).sort()).toEqual(['/run/secrets/postgres-credentials', '/tmp', '/var/lib/postgresql/data', '/var/run/postgresql']);
    // Readiness: accepting connections; liveness: answering at all (rejecting during recovery is alive).
    expect(pg.readinessProbe.exec.command.join(' ')).toContain('exec pg_isready');
    expect(pg.livenessProbe.exec.command.join(' ')).toMatch(/pg_isready .*; test \$\? -le 1/);
    expect(find(objects, 'Service', 'postgres-headless').spec.clusterIP).toBe('None');
    expect(find(objects, 'Service', 'postgres-headless').spec.selector).toEqual(sts.spec.selector.matchLabels);
    expect(find(objects, 'Service', 'postgres').spec.clusterIP).toBeUndefined();
  });

  it('switches Redis persistence per environment', () => {
    const localRedis = find(local(), 'Deployment', 'redis');
    expect(localRedis.spec.template.spec.volumes[0]).toEqual({ name: 'data', emptyDir: { sizeLimit: '256Mi' } });
    expect(local().some((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === 'redis-data')).toBe(false);
    const ibmObjects = ibm();
    const redis = find(ibmObjects, 'Deployment', 'redis');
    expect(redis.spec.strategy).toEqual({ type: 'Recreate' });
    expect(redis.spec.template.spec.volumes[0]).toEqual({ name: 'data', persistentVolumeClaim: { claimName: 'redis-data', readOnly: false } });
    expect(find(ibmObjects, 'PersistentVolumeClaim', 'redis-data').spec.resources.requests.storage).toBe('10Gi');
    const container = redis.spec.template.spec.containers[0];
    expect(container.args).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
    // The password reaches redis-server on stdin from the mounted file: no argument, no variable.
    expect(container.args.join(' ')).not.toMatch(/requirepass|PASSWORD/);
    expect(container.command.join(' ')).toContain('/run/secrets/redis-credentials/password');
    expect(container.env).toBeUndefined();
  });

  it('renders the Ingress per environment', () => {
    expect(find(local(), 'Ingress', 'expense-web').spec).toEqual({
      ingressClassName: 'nginx',
      rules: [{ host: 'expense.local', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'haproxy', port: { number: 80 } } } }] } }],
    });
    expect(find(ibm(), 'Ingress', 'expense-web').spec.ingressClassName).toBe('public-iks-k8s-nginx');
    const tls = synthesizeEnvironment(loadEnvironment('ibm', { imageTag: '1', set: ['ingress.tlsSecretName=expense-tls'] }));
    expect(find(tls, 'Ingress', 'expense-web').spec.tls).toEqual([{ hosts: [expect.any(String)], secretName: 'expense-tls' }]);
    expect(find(tls, 'ConfigMap', 'expense-config').data.PUBLIC_BASE_URL).toMatch(/^https:\/\//);
  });

  it('isolates pods with a default-deny policy and one policy per allowed flow', () => {
    const objects = local();
    expect(find(objects, 'NetworkPolicy', 'default-deny-ingress').spec).toEqual({ podSelector: {}, policyTypes: ['Ingress'] });
    const web = find(objects, 'Deployment', 'expense-web').spec.selector.matchLabels;
    const toPg = find(objects, 'NetworkPolicy', 'allow-web-to-postgres').spec;
    expect(toPg.ingress).toEqual([{ from: [{ podSelector: { matchLabels: web } }], ports: [{ protocol: 'TCP', port: 5432 }] }]);
    expect(toPg.podSelector.matchLabels).toEqual(find(objects, 'StatefulSet', 'postgres').spec.selector.matchLabels);
    const fromIngress = find(objects, 'NetworkPolicy', 'allow-ingress-controller-to-haproxy').spec.ingress[0];
    expect(fromIngress.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }]);
  });

  it.each([
    ['local', []],
    ['local', ['postgres.mode=ha', 'haproxy.placement=replaces-ingress']],
    ['ibm', []],
    ['ibm', ['haproxy.metricsScrapeNamespaces={monitoring,logging}']],
    ['ibm', ['monitoring.enabled=false', 'haproxy.metricsScrapeNamespaces={monitoring}']],
    ['ibm', ['postgres.mode=single', 'postgres.backup.enabled=false', 'imports.enabled=false']],
  ])('%s %j: no two NetworkPolicies admit the same peer to the same port of the same pods', (name, set) => {
    const objects = synthesizeEnvironment(loadEnvironment(name, { imageTag: '1.0.0', set }));
    const templates = objects.flatMap((o: any) => (o.spec?.template?.spec ? [o.spec.template] : []));
    // A named port is the number of that container port in the destination pods (the policy's
    // for ingress, the peer's for egress; kept as a name where those are not in the chart).
    const portNumber = (selector: Record<string, string> | undefined, port: number | string) => {
      if (typeof port === 'number' || !selector) return port;
      const pods = templates.filter((t) => Object.entries(selector).every(([k, v]) => t.metadata.labels?.[k] === v));
      const numbers = new Set(pods.flatMap((t) => t.spec.containers.flatMap((c: any) => (c.ports ?? []).filter((p: any) => p.name === port).map((p: any) => p.containerPort))));
      expect([...numbers], `port ${port} of pods ${JSON.stringify(selector)}`).toHaveLength(1);
      return [...numbers][0];
    };
    const flows = new Map<string, Set<string>>();
    for (const policy of objects.filter((o: any) => o.kind === 'NetworkPolicy') as any[]) {
      const selector = policy.spec.podSelector.matchLabels ?? {};
      for (const [direction, rules, field] of [['ingress', policy.spec.ingress, 'from'], ['egress', policy.spec.egress, 'to']] as const) {
        for (const rule of rules ?? []) {
          for (const peer of rule[field] ?? [{}]) {
            for (const port of rule.ports ?? [{}]) {
              const destination = direction === 'ingress' ? selector : peer.namespaceSelector ? undefined : peer.podSelector?.matchLabels;
              const flow = `${direction} ${JSON.stringify(selector)} ${field} ${JSON.stringify(peer)} ${port.protocol ?? 'TCP'}/${port.port === undefined ? 'any' : portNumber(destination, port.port)}`;
              flows.set(flow, (flows.get(flow) ?? new Set()).add(policy.metadata.name));
            }
          }
        }
      }
    }
    expect(flows.size).toBeGreaterThan(10);
    expect([...flows].filter(([, policies]) => policies.size > 1).map(([flow, policies]) => `${flow}: ${[...policies].join(', ')}`)).toEqual([]);
  });

  it('denies egress by default and allows DNS, each flow out of its source, and mail to public addresses only', () => {
    const objects = local();
    const selector = (kind: string, name: string) => find(objects, kind, name).spec.selector.matchLabels;
    expect(find(objects, 'NetworkPolicy', 'default-deny-egress').spec).toEqual({ podSelector: {}, policyTypes: ['Egress'] });
    expect(find(objects, 'NetworkPolicy', 'allow-dns-egress').spec.egress).toEqual([
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ports: [
          { protocol: 'UDP', port: 53 },
          { protocol: 'TCP', port: 53 },
          { protocol: 'UDP', port: 'dns' },
          { protocol: 'TCP', port: 'dns-tcp' },
        ],
      },
    ]);
    const egress = (name: string) => find(objects, 'NetworkPolicy', name).spec;
    for (const [policy, from, to, port] of [
      ['allow-web-to-postgres-egress', selector('Deployment', 'expense-web'), selector('StatefulSet', 'postgres'), 5432],
      ['allow-web-to-redis-egress', selector('Deployment', 'expense-web'), selector('Deployment', 'redis'), 6379],
      ['allow-haproxy-to-web-egress', selector('Deployment', 'haproxy'), selector('Deployment', 'expense-web'), APP_PORT],
    ] as const) {
      expect(egress(policy), policy).toEqual({
        podSelector: { matchLabels: from },
        policyTypes: ['Egress'],
        egress: [{ to: [{ podSelector: { matchLabels: to } }], ports: [{ protocol: 'TCP', port }] }],
      });
    }
    const mail = egress('allow-web-to-sendgrid-egress');
    expect(mail.podSelector.matchLabels).toEqual(selector('Deployment', 'expense-web'));
    expect(mail.egress).toEqual([{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: expect.arrayContaining(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16']) } }], ports: [{ protocol: 'TCP', port: 443 }] }]);
    // Nothing else leaves the namespace: every egress rule is one of the above.
    const egressPolicies = objects.filter((o: any) => o.kind === 'NetworkPolicy' && o.spec.policyTypes.includes('Egress')).map((o) => o.metadata.name).sort();
    expect(egressPolicies).toEqual([
      'allow-dns-egress',
      'allow-haproxy-to-web-egress',
      // The import worker reaches the same services as the web pods.
      'allow-import-worker-to-postgres-egress',
      'allow-import-worker-to-redis-egress',
      'allow-import-worker-to-sendgrid-egress',
      'allow-web-to-postgres-egress',
      'allow-web-to-redis-egress',
      'allow-web-to-sendgrid-egress',
      'default-deny-egress',
    ]);
  });

  it('budgets disruptions one pod at a time, and none for a single replica (a budget there would block every drain)', () => {
    expect(find(local(), 'PodDisruptionBudget', 'expense-web').spec).toMatchObject({ maxUnavailable: 1 });
    const one = synthesizeEnvironment(loadEnvironment('local', { imageTag: '1', set: ['web.replicas=1'] }));
    expect(one.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === 'expense-web')).toBe(false);
    // Nothing to spread either.
    expect(find(one, 'Deployment', 'expense-web').spec.template.spec.affinity).toBeUndefined();
    expect(validateManifests(one)).toEqual([]);
  });

  it('puts every non-secret app setting in expense-config', () => {
    expect(find(ibm(), 'ConfigMap', 'expense-config').data).toEqual({
      ...Object.fromEntries(Object.entries(find(ibm(), 'ConfigMap', 'expense-config').data).filter(([k]) => k.startsWith('IMPORT_'))),
      NODE_ENV: 'production',
      PORT: '8080',
      PGHOST: 'postgres',
      PGPORT: '5432',
      PGDATABASE: 'expenses',
      PGUSER: 'expense',
      REDIS_URL: 'redis://redis:6379/0',
      LOG_LEVEL: 'info',
      MAIL_FROM: 'budget@example.com',
      PUBLIC_BASE_URL: expect.stringMatching(/^http:\/\//),
      ADMIN_EMAIL: '',
    });
  });

  it('passes validation in every environment', () => {
    expect(validateManifests(local())).toEqual([]);
    expect(validateManifests(ibm())).toEqual([]);
  });

  it.each(['local', 'ibm'])('matches the %s snapshot', (name) => {
    expect(synthesizeEnvironment(loadEnvironment(name, { imageTag: '1.0.0' }))).toMatchSnapshot();
  });
});

describe('constructs on their own', () => {
  it('give safe, valid results with default props', () => {
    const chart = Testing.chart();
    new Web(chart, 'Web');
    new Postgres(chart, 'Postgres');
    new Redis(chart, 'Redis');
    const objects = Testing.synth(chart) as KubeObject[];
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'Deployment/expense-web',
      'Deployment/redis',
      'PodDisruptionBudget/expense-web',
      'Service/expense-web',
      'Service/postgres',
      'Service/postgres-headless',
      'Service/redis',
      'StatefulSet/postgres',
    ]);
    expect(validateManifests(objects, { externalConfigMaps: { 'expense-config': [] } })).toEqual([]);
  });

  it('validate props with errors that name the field', () => {
    const chart = Testing.chart();
    expect(() => new Web(chart, 'A', { replicas: 0 })).toThrow(/^Web: replicas: must be at least 1$/);
    expect(() => new Web(chart, 'B', { image: { repository: 'repo/app' } })).toThrow(/^Web: image: "repo\/app" is untagged: pin a tag or a digest$/);
    expect(() => new Web(chart, 'C', { image: { repository: 'repo/app', tag: 'latest' } })).toThrow(/Web: image: .*uses the latest tag/);
    expect(() => new Web(chart, 'D', { terminationGracePeriodSeconds: 5, preStopSleepSeconds: 10 })).toThrow(
      /^Web: preStopSleepSeconds: must be less than terminationGracePeriodSeconds \(5\)/,
    );
    expect(() => new Postgres(chart, 'E', { storage: '5gigs' })).toThrow(/Postgres: storage:/);
    expect(() => new Redis(chart, 'F', { storage: 'lots' })).toThrow(/Redis: storage:/);
    expect(() => new PodDisruptionBudget(chart, 'G', { name: 'x', selector: { a: 'b' }, maxUnavailable: 0 })).toThrow(/maxUnavailable/);
  });
});
