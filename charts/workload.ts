/**
 * The workload base construct, in the spirit of cdk8s-plus `Workload`: what every component of
 * the expense tracker shares, in one place.
 *
 * - identity: the recommended `app.kubernetes.io/*` labels on the workload and its pods, and a
 *   selector of name + instance + component (never the version: selectors are immutable);
 * - the "restricted" Pod Security Standard: non-root numeric UID/GID, no privilege escalation,
 *   read-only root filesystem, every capability dropped, `seccompProfile: RuntimeDefault`
 *   (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted), and no
 *   service account token;
 * - containers with the workload's pinned image, pull policy and resources; every long-running
 *   container must declare a readiness and a liveness probe;
 * - with more than one replica: soft (or required) pod anti-affinity on the node, and a
 *   PodDisruptionBudget with `maxUnavailable: 1` so a drain evicts one pod at a time. With one
 *   replica there is no budget: a budget that allows no eviction blocks every node drain
 *   (https://kubernetes.io/docs/tasks/run-application/configure-pdb/#think-about-how-your-application-reacts-to-disruptions);
 * - Services that target the containers' named ports (`exposeViaService`), and both halves of
 *   every allowed flow as NetworkPolicies (`allowFrom`, `allowTo`): the namespace denies ingress
 *   and egress by default (charts/network-policy.ts);
 * - ephemeral storage requested and limited on every container: its logs plus the emptyDirs it
 *   writes (`scratchVolume`, charts/resources.ts `ephemeralStorageFor`);
 * - Secrets as files (`secretFiles`): mounted read-only, mode 0440, group `fsGroup`, never
 *   through the environment (checkov CKV_K8S_35: environ is readable in /proc and in crash dumps);
 * - `fsGroup` (default: the GID) with `fsGroupChangePolicy: OnRootMismatch`, so volumes are
 *   writable for the pod's numeric user without a recursive change on every start;
 * - the scanner findings accepted for images without a digest, written on the workload with
 *   their reasons (charts/scanner-exceptions.ts).
 *
 * Subclasses (Web, Postgres, Redis, HaproxyLoadBalancer) add only their specifics: containers,
 * volumes, probes, Services.
 */
import { ApiObject, Duration, JsonPatch, type Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { formatImageReference, type ImageReference, unpinnedReason } from '@expense-tracker/model/images';
import { type ComponentIdentity, DNS_LABEL, labelValue, PART_OF, recommendedLabels, selectorLabels } from '@expense-tracker/model/naming';
import type { ResourceSettings } from '@expense-tracker/model/environment-schema';
import { allowEgress, allowIngress, type NetworkPeer } from './network-policy.js';
import { PodDisruptionBudget } from './pod-disruption-budget.js';
import { type PodIdentity, restrictedContainerSecurityContext, restrictedPodSecurityContext, RUNTIME_DEFAULT_SECCOMP } from './pod-security.js';
import { ephemeralStorageFor, containerResources } from './resources.js';
import { type ScannerExceptions, scannerExceptionAnnotations } from './scanner-exceptions.js';
import { secretFilePath, secretMountPath } from './secrets.js';

/** A pinned image and how to pull it. */
export interface WorkloadImage extends ImageReference {
  /**
   * `imagePullPolicy` of every container.
   * @default 'IfNotPresent'
   */
  readonly pullPolicy?: 'IfNotPresent' | 'Always' | 'Never';
}

/** A container of the workload: everything but what the workload decides for all of them. */
export type WorkloadContainerProps = Omit<kplus.ContainerProps, 'image' | 'imagePullPolicy' | 'resources' | 'securityContext'>;

/** Deployment update strategies the components use. */
export type WorkloadStrategy =
  /** Replace pods one at a time, never below the desired count (maxSurge 1, maxUnavailable 0). */
  | 'rolling-update'
  /** Stop the old pod before starting the new one (a ReadWriteOnce volume is never mounted twice). */
  | 'recreate';

/** StatefulSet specifics. */
export interface StatefulSetOptions {
  /** Name of the headless Service created as the StatefulSet's `serviceName`. */
  readonly serviceName: string;
  /** Ports of the headless Service (named like the container ports they target). */
  readonly ports: readonly { readonly name: string; readonly port: number }[];
  /**
   * `OrderedReady` starts pod N+1 once pod N is ready; `Parallel` starts them together (members
   * that elect their own leader, e.g. Patroni).
   * @default 'OrderedReady'
   */
  readonly podManagementPolicy?: 'OrderedReady' | 'Parallel';
  /**
   * The headless Service also resolves pods that are not ready (members that must find each
   * other before any is ready, e.g. a replica that is not ready until it streams).
   * @default false
   */
  readonly publishNotReadyAddresses?: boolean;
  /** PersistentVolumeClaim templates, mounted into the first container (after the mounts it is added with). */
  readonly volumeClaims: readonly {
    /** Claim template name (claims are `<name>-<statefulset>-<ordinal>`). */
    readonly name: string;
    readonly mountPath: string;
    /** Size, bytes with a binary suffix (`20Gi`). */
    readonly storage: string;
    readonly storageClassName: string;
  }[];
}

/** Props for `Workload`. */
export interface WorkloadProps {
  /** Deployment or StatefulSet. */
  readonly kind: 'Deployment' | 'StatefulSet';
  /** `metadata.name` of the workload (a DNS label). */
  readonly name: string;
  /** `app.kubernetes.io/name` and `/component` (model/components.ts). */
  readonly identity: { readonly name: string; readonly component: string };
  /**
   * Short name in NetworkPolicy names (`allow-<peer>-to-<this>`).
   * @default the workload name
   */
  readonly peerName?: string;
  /**
   * `app.kubernetes.io/instance`.
   * @default 'expense-tracker' (`PART_OF`, model/naming.ts)
   */
  readonly instance?: string;
  /** Image of every container; its tag is the `app.kubernetes.io/version` label. */
  readonly image: WorkloadImage;
  /** Requests and limits of every container. */
  readonly resources: ResourceSettings;
  /** Numeric identity the pods run as. */
  readonly podIdentity: PodIdentity;
  /**
   * Pods (1–100).
   * @default 1
   */
  readonly replicas?: number;
  /**
   * Seconds between SIGTERM and SIGKILL.
   * @default 30
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * Seconds a new pod must stay Ready before the Deployment counts it available (`minReadySeconds`):
   * a rolling update replaces the next old pod only then (Deployments with the rolling-update
   * strategy only).
   * @default 0
   */
  readonly minReadySeconds?: number;
  /**
   * Deployment update strategy (Deployments only).
   * @default 'rolling-update'
   */
  readonly strategy?: WorkloadStrategy;
  /**
   * How replicas spread over nodes when there is more than one: `preferred` (soft, never blocks
   * scheduling) or `required` (one pod per node).
   * @default 'preferred'
   */
  readonly antiAffinity?: 'preferred' | 'required';
  /**
   * Annotations on the pod template.
   * @default {}
   */
  readonly podAnnotations?: Record<string, string>;
  /** Required for a StatefulSet. */
  readonly statefulSet?: StatefulSetOptions;
  /**
   * Name of the ServiceAccount the pods run as, with its token mounted: only for workloads that
   * call the Kubernetes API themselves (with a Role of their own).
   * @default - the namespace's default ServiceAccount, no token mounted
   */
  readonly serviceAccountName?: string;
}

/** One port of a Service, targeting a named container port. */
export interface ServicePortProps {
  /** Name of the container port (and of the Service port). */
  readonly name: string;
  /** Port of the Service. */
  readonly port: number;
}

/** Options of `exposeViaService`. */
export interface ExposeViaServiceOptions {
  /** `metadata.name` (a DNS label: the name clients resolve). */
  readonly name: string;
  readonly ports: readonly ServicePortProps[];
  /**
   * `ClusterIP` or `LoadBalancer`.
   * @default kplus.ServiceType.CLUSTER_IP
   */
  readonly type?: kplus.ServiceType;
  /**
   * Labels the selected pods must carry besides the workload's selector, e.g. a role a process
   * in the pod sets at runtime (declare those keys in the `RUNTIME_LABELS_ANNOTATION` pod annotation).
   * @default {}
   */
  readonly podLabels?: Readonly<Record<string, string>>;
}

/** Options of `allowFrom`. */
export interface AllowFromOptions {
  /**
   * Port allowed (number, or container port name).
   * @default the first port of the first container
   */
  readonly port?: number | string;
  /**
   * `metadata.name` of the ingress NetworkPolicy; the egress half, when the peer is a
   * workload, is `<name>-egress`.
   * @default `allow-<peer>-to-<this workload's peer name>`
   */
  readonly name?: string;
}

/** Options of `allowTo` for a destination that is not a workload. */
export interface AllowToOptions {
  /** TCP ports allowed at the destination. */
  readonly ports: readonly number[];
  /**
   * `metadata.name` of the egress NetworkPolicy.
   * @default `allow-<this workload's peer name>-to-<peer>-egress`
   */
  readonly name?: string;
}

/** A container's view of one Secret mounted as files (`Workload.secretFiles`). */
export interface SecretFiles {
  /** The Secret volume (read-only, mode 0440). */
  readonly volume: kplus.Volume;
  /** Mount of the volume at `/run/secrets/<secret name>` (charts/secrets.ts). */
  readonly mount: kplus.VolumeMount;
  /** Path of the file holding `key`. */
  path(key: string): string;
}

/**
 * Why an image may run without a digest (checkov CKV_K8S_43). Environments pin third-party
 * images by digest where their content is published (model/images.ts); what is left runs by tag.
 */
export const TAG_ONLY_IMAGE_REASON =
  'runs by tag: images built by this deployment itself (the app image before CI has pushed it; every image of a local ' +
  'cluster, loaded under its tag) have no digest at synth time; a deploy that knows one sets image.digest (model/images.ts)';
/** Why `IfNotPresent` is right for an image by tag in a local cluster (checkov CKV_K8S_15). */
export const LOCAL_PULL_POLICY_REASON =
  'IfNotPresent by tag: local clusters run images loaded into the node or its registry mirror under this tag ' +
  '(model/images.ts); Always would ask a registry that may not have them';

/**
 * Base of every workload construct (see the module documentation).
 * @throws Error naming the prop for a bad name, replica count or grace period, an unpinned image,
 *   a StatefulSet without `statefulSet`, or a long-running container without probes
 */
export abstract class Workload extends Construct {
  /** The cdk8s-plus Deployment or StatefulSet. */
  readonly workload: kplus.Deployment | kplus.StatefulSet;
  /** `metadata.name` of the workload. */
  readonly name: string;
  /** Short name in NetworkPolicy names. */
  readonly peerName: string;
  readonly identity: ComponentIdentity;
  /** Labels that select the pods (name, instance, component). */
  readonly selector: Record<string, string>;
  /** The six recommended labels, on the workload, its pods and its Services. */
  readonly labels: Record<string, string>;
  readonly replicas: number;
  /** The headless Service of a StatefulSet. */
  readonly headlessService?: kplus.Service;
  protected readonly image: string;
  private readonly pullPolicy: kplus.ImagePullPolicy;
  private readonly resourceSettings: ResourceSettings;
  private readonly podIdentity: PodIdentity;
  private readonly pods: kplus.Pods;
  private readonly statefulSetOptions?: StatefulSetOptions;
  /** Disk-backed emptyDirs by volume name, with their size limits. */
  private readonly scratch = new Map<string, Size>();
  private readonly secretVolumes = new Map<string, { readonly files: SecretFiles; readonly keys: string }>();
  private readonly acceptedFindings: { checkov: Record<string, string>; kubeScore: Record<string, string> } = { checkov: {}, kubeScore: {} };

  protected constructor(scope: Construct, id: string, props: WorkloadProps) {
    super(scope, id);
    const fail = (field: string, message: string): never => {
      throw new Error(`${this.constructor.name}: ${field}: ${message}`);
    };
    if (!DNS_LABEL.test(props.name)) fail('name', `must be a DNS label, got "${props.name}"`);
    const replicas = props.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 100) fail('replicas', `must be an integer from 1 to 100, got ${replicas}`);
    const grace = props.terminationGracePeriodSeconds ?? 30;
    if (!Number.isInteger(grace) || grace < 0) fail('terminationGracePeriodSeconds', `must be a whole number of seconds, got ${grace}`);
    const minReady = props.minReadySeconds ?? 0;
    if (!Number.isInteger(minReady) || minReady < 0) fail('minReadySeconds', `must be a whole number of seconds, got ${minReady}`);
    const unpinned = unpinnedReason(props.image);
    if (unpinned) fail('image', `"${formatImageReference(props.image)}" ${unpinned}: pin a tag or a digest`);
    if (props.kind === 'StatefulSet' && !props.statefulSet) fail('statefulSet', 'is required for a StatefulSet');

    this.name = props.name;
    this.statefulSetOptions = props.statefulSet;
    this.peerName = props.peerName ?? props.name;
    this.replicas = replicas;
    this.image = formatImageReference(props.image);
    this.pullPolicy = (props.image.pullPolicy ?? 'IfNotPresent') as kplus.ImagePullPolicy;
    this.resourceSettings = props.resources;
    // Volumes (Secrets, emptyDirs, claims) belong to the pod's group, changed only on a mismatch.
    this.podIdentity = { ...props.podIdentity, fsGroup: props.podIdentity.fsGroup ?? props.podIdentity.gid };
    const version = props.image.tag || labelValue(props.image.digest ?? '').slice(-12);
    this.identity = { ...props.identity, instance: props.instance ?? PART_OF, version };
    this.selector = selectorLabels(this.identity);
    this.labels = recommendedLabels(this.identity);

    const common = {
      metadata: { name: props.name, labels: this.labels },
      podMetadata: { labels: this.labels, ...(props.podAnnotations ? { annotations: props.podAnnotations } : {}) },
      select: false,
      replicas,
      terminationGracePeriod: Duration.seconds(grace),
      securityContext: restrictedPodSecurityContext(this.podIdentity),
      serviceAccount: props.serviceAccountName ? kplus.ServiceAccount.fromServiceAccountName(this, 'ServiceAccount', props.serviceAccountName) : undefined,
      automountServiceAccountToken: props.serviceAccountName !== undefined,
    };
    if (props.kind === 'Deployment') {
      const strategy =
        props.strategy === 'recreate'
          ? kplus.DeploymentStrategy.recreate()
          : kplus.DeploymentStrategy.rollingUpdate({ maxSurge: kplus.PercentOrAbsolute.absolute(1), maxUnavailable: kplus.PercentOrAbsolute.absolute(0) });
      this.workload = new kplus.Deployment(this, 'Deployment', {
        ...common,
        strategy,
        ...(props.strategy === 'recreate' ? {} : { minReady: Duration.seconds(minReady), progressDeadline: Duration.seconds(600) }),
      });
    } else {
      const sts = props.statefulSet!;
      this.headlessService = new kplus.Service(this, 'HeadlessService', {
        metadata: { name: sts.serviceName, labels: this.labels },
        clusterIP: 'None',
        ports: sts.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port })),
      });
      this.workload = new kplus.StatefulSet(this, 'StatefulSet', {
        ...common,
        service: this.headlessService,
        podManagementPolicy: sts.podManagementPolicy === 'Parallel' ? kplus.PodManagementPolicy.PARALLEL : kplus.PodManagementPolicy.ORDERED_READY,
      });
      if (sts.publishNotReadyAddresses) ApiObject.of(this.headlessService).addJsonPatch(JsonPatch.add('/spec/publishNotReadyAddresses', true));
      // The StatefulSet makes its Service select by its cdk8s address label; select by ours.
      ApiObject.of(this.headlessService).addJsonPatch(JsonPatch.replace('/spec/selector', this.selector));
      const claims = sts.volumeClaims.map((c) => ({
        metadata: { name: c.name, labels: this.labels },
        spec: {
          accessModes: ['ReadWriteOnce'],
          storageClassName: c.storageClassName,
          resources: { requests: { storage: k8s.Quantity.fromString(c.storage) } },
        },
      }));
      // cdk8s-plus-27 has no API for volumeClaimTemplates or the claim retention policy. Claims are
      // kept when the StatefulSet is deleted or scaled down
      // (https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#persistentvolumeclaim-retention).
      ApiObject.of(this.workload).addJsonPatch(
        JsonPatch.add('/spec/volumeClaimTemplates', claims),
        JsonPatch.add('/spec/persistentVolumeClaimRetentionPolicy', { whenDeleted: 'Retain', whenScaled: 'Retain' }),
      );
    }
    this.workload.select(kplus.LabelSelector.of({ labels: this.selector }));
    // cdk8s-plus-27 has no API for the pod's seccompProfile.
    ApiObject.of(this.workload).addJsonPatch(JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', RUNTIME_DEFAULT_SECCOMP));

    this.acceptImageFindings(props.image, this.pullPolicy);

    this.pods = kplus.Pods.select(this, 'Pods', { labels: this.selector });
    if (replicas > 1) {
      if (props.antiAffinity === 'required') this.workload.scheduling.separate(this.pods, { topology: kplus.Topology.HOSTNAME });
      else this.workload.scheduling.separate(this.pods, { weight: 100, topology: kplus.Topology.HOSTNAME });
      new PodDisruptionBudget(this, 'Budget', { name: props.name, selector: this.selector, labels: this.labels });
    }
  }

  /**
   * Adds a long-running container with the workload's image, pull policy, resources and
   * restricted security context.
   * @throws Error when it has no readiness or no liveness probe
   */
  protected addContainer(props: WorkloadContainerProps): kplus.Container {
    if (!props.readiness || !props.liveness) {
      throw new Error(`${this.constructor.name}: container ${props.name ?? '(unnamed)'}: needs a readiness and a liveness probe`);
    }
    const container = this.workload.addContainer(this.containerProps(props));
    const claims = this.statefulSetOptions?.volumeClaims ?? [];
    if (this.workload.containers.length === 1 && claims.length > 0) {
      // The claim templates' mounts (no cdk8s-plus API): appended to the first container's mounts.
      const mounts = claims.map((c) => ({ name: c.name, mountPath: c.mountPath }));
      const path = '/spec/template/spec/containers/0/volumeMounts';
      ApiObject.of(this.workload).addJsonPatch(
        ...(container.mounts.length > 0 ? mounts.map((m) => JsonPatch.add(`${path}/-`, m)) : [JsonPatch.add(path, mounts)]),
      );
    }
    this.limitEphemeralStorage('containers', this.workload.containers.length - 1, props);
    return container;
  }

  /**
   * Adds an init container (runs to completion before the containers start), restricted like the
   * others. `image` replaces the workload's image for it, e.g. a shell image preparing a file for
   * a distroless main container; without a digest it gets the same accepted findings.
   * @throws Error naming `image` when it is unpinned
   */
  protected addInitContainer(props: WorkloadContainerProps, image?: WorkloadImage): kplus.Container {
    let own: Partial<kplus.ContainerProps> = {};
    if (image) {
      const unpinned = unpinnedReason(image);
      if (unpinned) throw new Error(`${this.constructor.name}: init container ${props.name ?? '(unnamed)'}: image: "${formatImageReference(image)}" ${unpinned}: pin a tag or a digest`);
      const pullPolicy = (image.pullPolicy ?? 'IfNotPresent') as kplus.ImagePullPolicy;
      own = { image: formatImageReference(image), imagePullPolicy: pullPolicy };
      this.acceptImageFindings(image, pullPolicy);
    }
    const container = this.workload.addInitContainer({ ...this.containerProps(props), ...own });
    this.limitEphemeralStorage('initContainers', this.workload.initContainers.length - 1, props);
    return container;
  }

  /**
   * Requests and limits the container's ephemeral storage (charts/resources.ts
   * `ephemeralStorageFor`), as a JSON patch: cdk8s-plus-27 renders ephemeral storage in whole
   * GiB only.
   */
  private limitEphemeralStorage(list: 'containers' | 'initContainers', index: number, props: WorkloadContainerProps): void {
    const written = (props.volumeMounts ?? []).filter((m) => !m.readOnly).flatMap((m) => this.scratch.get(m.volume.name) ?? []);
    // A Quantity, not a bare string: the L1 serializer reads `.value` of Quantity fields.
    const quantity = k8s.Quantity.fromString(`${ephemeralStorageFor(written).toMebibytes()}Mi`);
    const path = `/spec/template/spec/${list}/${index}/resources`;
    ApiObject.of(this.workload).addJsonPatch(
      JsonPatch.add(`${path}/requests/ephemeral-storage`, quantity),
      JsonPatch.add(`${path}/limits/ephemeral-storage`, quantity),
    );
  }

  private containerProps(props: WorkloadContainerProps): kplus.ContainerProps {
    return {
      ...props,
      image: this.image,
      imagePullPolicy: this.pullPolicy,
      resources: containerResources(this.resourceSettings),
      securityContext: restrictedContainerSecurityContext(this.podIdentity),
    };
  }

  /**
   * A disk-backed emptyDir of at most `sizeLimit`. Every container that mounts it writable gets
   * that much more ephemeral storage requested and limited.
   */
  protected scratchVolume(name: string, sizeLimit: Size): kplus.Volume {
    this.scratch.set(name, sizeLimit);
    return kplus.Volume.fromEmptyDir(this, `Scratch-${name}`, name, { sizeLimit });
  }

  /**
   * The keys `keys` of Secret `secretName` as files (`/run/secrets/<secret name>/<key>`,
   * read-only, mode 0440, readable through the pod's `fsGroup`). One volume per Secret, shared
   * by the containers that mount it; asking again for the same Secret must name the same keys.
   * @throws Error when the same Secret is asked for with other keys
   */
  protected secretFiles(secretName: string, keys: readonly string[]): SecretFiles {
    const wanted = [...keys].sort();
    const known = this.secretVolumes.get(secretName);
    if (known) {
      if (known.keys !== wanted.join(', ')) throw new Error(`${this.constructor.name}: secretFiles(${secretName}): keys ${wanted.join(', ')} differ from ${known.keys}`);
      return known.files;
    }
    if (wanted.length === 0) throw new Error(`${this.constructor.name}: secretFiles(${secretName}): name at least one key`);
    const items: Record<string, kplus.PathMapping> = {};
    for (const key of wanted) items[key] = { path: key };
    const volume = kplus.Volume.fromSecret(this, `SecretFiles-${secretName}`, kplus.Secret.fromSecretName(this, `Secret-${secretName}`, secretName), {
      name: `secret-${secretName}`,
      items,
      defaultMode: 0o440,
    });
    const files: SecretFiles = {
      volume,
      mount: { path: secretMountPath(secretName), volume, readOnly: true },
      path: (key) => {
        if (!wanted.includes(key)) throw new Error(`${this.constructor.name}: Secret ${secretName}: key ${key} is not mounted`);
        return secretFilePath(secretName, key);
      },
    };
    this.secretVolumes.set(secretName, { files, keys: wanted.join(', ') });
    return files;
  }

  /** The findings an image by tag brings (no digest; `IfNotPresent` by tag), with their reasons. */
  private acceptImageFindings(image: ImageReference, pullPolicy: kplus.ImagePullPolicy): void {
    if (image.digest) return;
    this.acceptScannerFindings({ checkov: { CKV_K8S_43: TAG_ONLY_IMAGE_REASON } });
    if (pullPolicy !== kplus.ImagePullPolicy.ALWAYS) this.acceptScannerFindings({ checkov: { CKV_K8S_15: LOCAL_PULL_POLICY_REASON } });
  }

  /**
   * Environment variables holding the paths of Secret key files (`<VARIABLE>: { secret, key }`,
   * the `*_FILE` convention), and the mounts of those Secrets (`secretFiles`, one volume per
   * Secret with every key `refs` names in it).
   * @throws Error as `secretFiles` when a Secret was mounted before with other keys
   */
  protected secretFileEnv(refs: Readonly<Record<string, { readonly secret: string; readonly key: string }>>): {
    envVariables: Record<string, kplus.EnvValue>;
    volumeMounts: kplus.VolumeMount[];
  } {
    const entries = Object.entries(refs);
    const envVariables: Record<string, kplus.EnvValue> = {};
    const mounts = new Map<string, kplus.VolumeMount>();
    for (const [variable, ref] of entries) {
      const files = this.secretFiles(ref.secret, entries.filter(([, r]) => r.secret === ref.secret).map(([, r]) => r.key));
      envVariables[variable] = kplus.EnvValue.fromValue(files.path(ref.key));
      mounts.set(ref.secret, files.mount);
    }
    return { envVariables, volumeMounts: [...mounts.values()] };
  }

  /**
   * Records scanner findings this workload accepts, each with its reason, as annotations on the
   * workload (conventions: charts/scanner-exceptions.ts).
   */
  protected acceptScannerFindings(exceptions: ScannerExceptions): void {
    Object.assign(this.acceptedFindings.checkov, exceptions.checkov);
    Object.assign(this.acceptedFindings.kubeScore, exceptions.kubeScore);
    for (const [key, value] of Object.entries(scannerExceptionAnnotations(this.acceptedFindings))) this.workload.metadata.addAnnotation(key, value);
  }

  /** The container port `port` names (or the number itself), for rules that need a number. */
  private portNumber(port: number | string): number {
    if (typeof port === 'number') return port;
    for (const c of this.workload.containers) {
      const found = c.ports.find((p) => p.name === port);
      if (found) return found.number;
    }
    throw new Error(`${this.constructor.name}: no container port named "${port}"`);
  }

  /**
   * A Service over this workload's pods whose ports target the containers' named ports, so a
   * container port change needs no Service change.
   */
  exposeViaService(id: string, options: ExposeViaServiceOptions): kplus.Service {
    const service = new kplus.Service(this, id, {
      metadata: { name: options.name, labels: this.labels },
      type: options.type ?? kplus.ServiceType.CLUSTER_IP,
      selector: options.podLabels ? kplus.Pods.select(this, `${id}Pods`, { labels: { ...this.selector, ...options.podLabels } }) : this.pods,
      ports: options.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port })),
    });
    // IntOrString, not a bare string: the L1 serializer reads `.value` of IntOrString fields.
    ApiObject.of(service).addJsonPatch(
      ...options.ports.map((p, i) => JsonPatch.replace(`/spec/ports/${i}/targetPort`, k8s.IntOrString.fromString(p.name))),
    );
    return service;
  }

  /**
   * A headless Service (`clusterIP: None`) over this workload's pods: DNS answers one A record
   * per ready pod (`publishNotReadyAddresses: false`), e.g. for HAProxy's `server-template`.
   */
  exposeViaHeadlessService(id: string, options: Omit<ExposeViaServiceOptions, 'type'>): k8s.KubeService {
    return new k8s.KubeService(this, id, {
      metadata: { name: options.name, labels: this.labels },
      spec: {
        clusterIp: 'None',
        publishNotReadyAddresses: false,
        selector: this.selector,
        ports: options.ports.map((p) => ({ name: p.name, port: p.port, targetPort: k8s.IntOrString.fromString(p.name), protocol: 'TCP' })),
      },
    });
  }

  /**
   * A NetworkPolicy `allow-<peer>-to-<this>` letting `peer` (a workload of this namespace, pods
   * of other namespaces, address blocks, the public internet or anyone) connect to this workload's pods on one TCP port. When
   * `peer` is a workload, also its egress half `allow-<peer>-to-<this>-egress` on the peer.
   */
  allowFrom(peer: Workload | NetworkPeer, options: AllowFromOptions = {}): k8s.KubeNetworkPolicy {
    const from: NetworkPeer = peer instanceof Workload ? { name: peer.peerName, pods: peer.selector } : peer;
    const port = options.port ?? this.workload.containers[0]?.ports[0]?.number;
    if (port === undefined) throw new Error(`${this.constructor.name}: allowFrom: no port given and no container port declared`);
    const name = options.name ?? `allow-${from.name}-to-${this.peerName}`;
    if (peer instanceof Workload) {
      // Egress rules are matched after Service translation: the destination is this pod's container port.
      const egress = `${name}-egress`;
      allowEgress(peer, egress, { name: egress, from: peer.selector, to: { name: this.peerName, pods: this.selector }, ports: [{ port: this.portNumber(port) }] });
    }
    return allowIngress(this, name, { name, to: this.selector, port, from });
  }

  /**
   * Lets this workload's pods connect to `peer`: another workload (both halves of the flow, as
   * `peer.allowFrom(this)`), or pods of other namespaces, address blocks or the public internet
   * (an egress NetworkPolicy `allow-<this>-to-<peer>-egress` on TCP `options.ports`).
   * @throws Error when a non-workload peer is given without ports
   */
  allowTo(peer: Workload, options?: AllowFromOptions): k8s.KubeNetworkPolicy;
  allowTo(peer: NetworkPeer, options: AllowToOptions): k8s.KubeNetworkPolicy;
  allowTo(peer: Workload | NetworkPeer, options?: AllowFromOptions | AllowToOptions): k8s.KubeNetworkPolicy {
    if (peer instanceof Workload) return peer.allowFrom(this, options as AllowFromOptions | undefined);
    const ports = (options as AllowToOptions | undefined)?.ports ?? [];
    if (ports.length === 0) throw new Error(`${this.constructor.name}: allowTo(${peer.name}): ports are required`);
    const name = options?.name ?? `allow-${this.peerName}-to-${peer.name}-egress`;
    return allowEgress(this, name, { name, from: this.selector, to: peer, ports: ports.map((port) => ({ port })) });
  }
}
