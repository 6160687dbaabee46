/**
 * The shared base of every environment: each setting's default, sized for a small single-node
 * cluster (minikube). An environment file (`local.ts`, `ibm.ts`) overrides only what differs;
 * construct props default to these values too, so a default is written exactly once.
 * The schema (environment-schema.ts) documents each field's grammar and rules.
 */
import type { EnvironmentBase, ImageSettings } from '../environment-schema.js';
import { PINNED_IMAGES } from '../images.js';

/** Small requests, burstable limits: the app, Redis. */
const small = { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } };

/** The base; `image.tag` is filled in by `loadEnvironment` (IMAGE_TAG, else the app's version). */
export const base: Omit<EnvironmentBase, 'image'> & { readonly image: Omit<ImageSettings, 'tag'> } = {
  // Namespace every object lives in (restricted Pod Security Standard).
  namespace: 'expense-tracker',
  // The app image; the tag comes from IMAGE_TAG or app/package.json.
  image: { repository: 'localhost:5000/expense-tracker', digest: '', pullPolicy: 'IfNotPresent' },
  web: {
    // Two pods: a drain or a rollout never leaves the site without a ready pod.
    replicas: 2,
    resources: small,
    terminationGracePeriodSeconds: 30,
    // Long enough for kube-proxy and the ingress controller to drop the pod's endpoint.
    preStopSleepSeconds: 5,
  },
  postgres: {
    // One PostgreSQL pod; `ha` runs a Patroni cluster (postgres.ha) with backups (postgres.backup).
    mode: 'single',
    image: { ...PINNED_IMAGES.postgres, digest: '', pullPolicy: 'IfNotPresent' },
    database: 'expenses',
    username: 'expense',
    storage: '1Gi',
    // minikube's default StorageClass (hostpath provisioner).
    storageClassName: 'standard',
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
    ha: {
      image: { ...PINNED_IMAGES.patroni, digest: '', pullPolicy: 'IfNotPresent' },
      // A primary, a synchronous standby and an asynchronous replica: losing any one member
      // keeps a synchronous copy of every acknowledged commit.
      members: 3,
      // A single-node cluster still starts every member.
      antiAffinity: 'preferred',
      synchronousMode: true,
      // Patroni's defaults.
      timing: { ttlSeconds: 30, loopWaitSeconds: 10, retryTimeoutSeconds: 10 },
      // minikube's API server: the node's address on its docker network, port 8443.
      apiServer: { cidrs: ['192.168.49.2/32'], port: 8443 },
    },
    backup: {
      enabled: false,
      stanza: 'expense',
      repository: 's3',
      // Used with repository 'pvc' (single-node clusters; ReadWriteMany across nodes).
      pvc: { storage: '10Gi', storageClassName: 'standard', accessMode: 'ReadWriteOnce' },
      s3: {
        endpoint: 's3.us-south.cloud-object-storage.appdomain.cloud',
        port: 443,
        bucket: 'expense-tracker-backups',
        region: 'us-south',
        path: '/pgbackrest',
        uriStyle: 'host',
        caConfigMap: '',
        cidrs: [],
      },
      // Four weekly full backups, with the differentials between them.
      retention: { full: 4, diff: 6 },
      // Full on Sunday, differential the other nights, 01:15 UTC.
      schedule: { full: '15 1 * * 0', diff: '15 1 * * 1-6' },
      kubectlImage: { ...PINNED_IMAGES.kubectl, digest: '', pullPolicy: 'IfNotPresent' },
    },
  },
  redis: {
    image: { ...PINNED_IMAGES.redis, digest: '', pullPolicy: 'IfNotPresent' },
    // A pure cache by default: an emptyDir, no snapshots.
    persistence: { enabled: false, storage: '1Gi', storageClassName: 'standard' },
    resources: small,
  },
  // minikube's ingress-nginx addon.
  ingress: { className: 'nginx', host: 'expense.local', tlsSecretName: '' },
  ingressControllerNamespace: 'ingress-nginx',
  haproxy: {
    // The Ingress stays the entry point (host, TLS); HAProxy adds app-aware routing, /readyz
    // health checks, retries with redispatch and per-server metrics.
    enabled: true,
    placement: 'behind-ingress',
    image: { ...PINNED_IMAGES.haproxy, digest: '', pullPolicy: 'IfNotPresent' },
    // Two: HAProxy is the one way in, so a restart, a rollout or a node drain never leaves the
    // site without a ready load balancer (spread over nodes where there are several).
    replicas: 2,
    resources: { requests: { cpu: '25m', memory: '32Mi' }, limits: { cpu: '250m', memory: '128Mi' } },
    maxconn: 2000,
    // web.replicas + the surge pod, with room to scale up without a reload.
    serverSlots: 6,
    // Pages spread evenly; the API goes to the least busy server (longer, uneven requests).
    balance: { web: 'roundrobin', api: 'leastconn' },
    // The seeds' values: `retries 3`, `inter 2s fall 3 rise 2`.
    retries: 3,
    timeouts: { connectSeconds: 5, clientSeconds: 30, serverSeconds: 30, httpRequestSeconds: 10, httpKeepAliveSeconds: 10, queueSeconds: 10 },
    healthCheck: { intervalSeconds: 2, fall: 3, rise: 2 },
    metricsScrapeNamespaces: [],
  },
  app: { logLevel: 'info', mailFrom: 'budget@example.com', adminEmail: '' },
  imports: {
    enabled: true,
    maxBytes: '16Gi',
    // A monthly statement is imported while the user waits; anything larger goes to a worker.
    inlineMaxBytes: '1Mi',
    leaseSeconds: 60,
    userMaxActive: 3,
    userDailyBytes: '32Gi',
    failedRetentionHours: 168,
    // A 16 GiB upload at 10 MB/s takes about half an hour.
    uploadTimeoutSeconds: 3600,
    // minikube is one node: ReadWriteOnce is mounted by every pod on it.
    staging: { storage: '20Gi', storageClassName: 'standard', accessMode: 'ReadWriteOnce', reserve: '1Gi' },
    // One worker: imports run one at a time per worker; a chunk checkpoints in seconds.
    worker: { replicas: 1, resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } }, terminationGracePeriodSeconds: 60 },
  },
  compose: { enabled: false },
  monitoring: {
    // Needs the Prometheus Operator's CRDs in the cluster (minikube has none): on where a cluster
    // runs kube-prometheus-stack (ibm), `--set monitoring.enabled=true` elsewhere.
    enabled: false,
    prometheus: {
      namespace: 'monitoring',
      // kube-prometheus-stack installed as release "kube-prometheus-stack" selects on this label.
      selectorLabels: { release: 'kube-prometheus-stack' },
      scrapeIntervalSeconds: 30,
    },
    // kube-prometheus-stack's Grafana sidecar defaults.
    grafana: { dashboardLabel: { key: 'grafana_dashboard', value: '1' }, folder: 'Expense Tracker' },
    // Where people read docs/runbooks.md; point it at your copy of the repository.
    runbookBaseUrl: 'https://github.com/expense-tracker/platform/blob/main/docs/runbooks.md',
    slo: {
      // 30 days: the SRE workbook's period, so its 14.4/6/3/1 burn rates apply unchanged.
      periodDays: 30,
      // What a small personal-finance site can promise: 99.5 % of requests without a server
      // error, 99 % of dashboard loads within 500 ms.
      availability: { objectivePercent: 99.5 },
      latency: { objectivePercent: 99, thresholdSeconds: 0.5, routes: ['/dashboard', '/api/summary'] },
    },
    alerts: {
      targetDownForSeconds: 300,
      // Long enough for a rolling update to bring a replacement pod up.
      webReplicasUnavailableForSeconds: 600,
      postgresDownForSeconds: 60,
      redisDownForSeconds: 120,
      postgresVolumeFreePercent: 15,
      postgresVolumeFullWithinHours: 96,
      certificateExpiryDays: 14,
      mailFailingForSeconds: 1800,
      // 16 MiB (one WAL segment) behind for 5 minutes: far past Patroni's maximum_lag_on_failover
      // (1 MiB), so that replica would not be promoted, and not a burst of a bulk import.
      postgresReplicationLagBytes: 16_777_216,
      postgresReplicationLagForSeconds: 300,
      // Backups run nightly: 36 h is one missed night, noticed the next working day.
      postgresBackupMaxAgeHours: 36,
    },
    // prometheus-community/prometheus-blackbox-exporter in the monitoring namespace.
    blackboxExporterAddress: 'prometheus-blackbox-exporter.monitoring.svc:9115',
  },
};
