/** `ibm`: IBM Cloud Kubernetes Service (VPC) + IBM Container Registry. */
import type { EnvironmentOverrides } from '../environment-schema.js';
import { PINNED_IMAGES } from '../images.js';

/** VPC block storage; `10iops-tier` is IKS's general-purpose class. */
const blockStorage = 'ibmc-vpc-block-10iops-tier';

export const ibm: EnvironmentOverrides = {
  // ICR namespace `expense-tracker` in us-south; the Pulumi `iks` target sets its own registry.
  // Its digest exists only once CI has pushed it: until a deploy sets `image.digest` (and
  // `image.pullPolicy=IfNotPresent`), Always makes every pod start re-resolve the tag.
  image: { repository: 'us.icr.io/expense-tracker/expense-tracker', pullPolicy: 'Always' },
  web: {
    // One pod per zone of a three-zone cluster.
    replicas: 3,
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    // The IKS ALB takes longer than minikube's controller to drop an endpoint.
    terminationGracePeriodSeconds: 40,
    preStopSleepSeconds: 10,
  },
  postgres: {
    // Third-party images by digest (model/images.ts).
    image: { digest: PINNED_IMAGES.postgres.digest },
    storage: '20Gi',
    storageClassName: blockStorage,
    resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } },
    // Patroni: three members, never two on one worker (one per zone of a three-zone cluster).
    mode: 'ha',
    ha: {
      image: { digest: PINNED_IMAGES.patroni.digest },
      members: 3,
      antiAffinity: 'required',
      // IKS workers reach the master through the local proxy at 172.20.0.1:2040, the endpoint of
      // the `kubernetes` Service (check with `kubectl get endpoints kubernetes -n default`).
      apiServer: { cidrs: ['172.20.0.1/32'], port: 2040 },
    },
    backup: {
      enabled: true,
      // With repository 'pvc': members in three zones share VPC file storage (NFS, ReadWriteMany).
      pvc: { storageClassName: 'ibmc-vpc-file-dp2', accessMode: 'ReadWriteMany' },
      // IBM Cloud Object Storage through its direct endpoint (reachable from VPC workers without
      // public egress); HMAC keys of a service credential go into Secret postgres-backup-s3.
      s3: {
        endpoint: 's3.direct.us-south.cloud-object-storage.appdomain.cloud',
        bucket: 'expense-tracker-ibm-backups',
        region: 'us-south',
        // IBM Cloud's service network, where the direct COS endpoints answer.
        cidrs: ['161.26.0.0/16'],
      },
    },
  },
  redis: {
    image: { digest: PINNED_IMAGES.redis.digest },
    // Sessions survive a Redis restart.
    persistence: { enabled: true, storage: '10Gi', storageClassName: blockStorage },
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
  },
  // IKS ALB (Kubernetes ingress-nginx based); switch to `public-iks-traefik` with --set ingress.className=public-iks-traefik.
  ingress: { className: 'public-iks-k8s-nginx', host: 'expense.example.us-south.containers.appdomain.cloud' },
  ingressControllerNamespace: 'kube-system',
  imports: {
    // Web pods spread over three zones share the staging area: VPC file storage (NFS, ReadWriteMany).
    staging: { storage: '100Gi', storageClassName: 'ibmc-vpc-file-dp2', accessMode: 'ReadWriteMany', reserve: '4Gi' },
    worker: { replicas: 2, resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } } },
  },
  haproxy: {
    // The IKS ALB keeps TLS termination and the public host; HAProxy balances behind it.
    // `--set haproxy.placement=replaces-ingress` exposes HAProxy through a VPC load balancer instead.
    image: { digest: PINNED_IMAGES.haproxy.digest },
    resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } },
    maxconn: 10000,
    serverSlots: 10,
  },
  // kube-prometheus-stack (release `kube-prometheus-stack` in `monitoring`, the base settings)
  // scrapes the monitors, evaluates the rules and loads the dashboards.
  monitoring: { enabled: true },
};
