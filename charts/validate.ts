/**
 * Validation of synthesized manifests: every object against the Kubernetes OpenAPI schema
 * (kubernetes-models, generated from the upstream OpenAPI v2 spec), plus the project's own
 * policy checks. Each finding names the object (`Kind/name`) and the field path.
 */
import { ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { SECRETS } from '@expense-tracker/model/app-contract';
import { POSTGRES_HA } from '@expense-tracker/model/components';
import { parseImageReference, unpinnedReason } from '@expense-tracker/model/images';
import { RUNTIME_LABELS_ANNOTATION } from '@expense-tracker/model/naming';
import { customResourceModels } from './custom-resources.js';
import { checkMonitoringObjects } from './validate-monitoring.js';
import type { KubeObject } from './synthesize.js';
import { scannerExceptionProblems } from './scanner-exceptions.js';

/** One problem found in a manifest. */
export interface Finding {
  /** `Kind/name` of the object. */
  readonly object: string;
  /** Dotted field path inside the object, e.g. `spec.template.spec.containers[0].resources`. */
  readonly field: string;
  readonly message: string;
}

/** Options for `validateManifests`. */
export interface ValidateOptions {
  /**
   * Secrets that exist outside the chart (created by `scripts/create-secrets.ts` or Pulumi),
   * by name → keys; references to them are allowed.
   * @default the Secrets of `SECRETS` in app-contract.ts and the HA tier's (`POSTGRES_HA` in components.ts)
   */
  readonly externalSecrets?: Readonly<Record<string, readonly string[]>>;
  /**
   * ConfigMaps that exist outside the chart, by name → keys.
   * @default {}
   */
  readonly externalConfigMaps?: Readonly<Record<string, readonly string[]>>;
}

type SchemaModel = new (data: any) => { validate(): void };
const SCHEMAS: Record<string, SchemaModel> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Pod': Pod,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'batch/v1/CronJob': CronJob,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  // Prometheus Operator kinds, from the pinned CRDs' schemas (charts/imports/).
  ...customResourceModels(),
};

const defaultExternalSecrets = (): Record<string, string[]> =>
  Object.fromEntries([...Object.values(SECRETS), POSTGRES_HA.patroniSecret, POSTGRES_HA.backupS3Secret].map((s) => [s.name, Object.values(s.keys)]));

/** Where a workload kind keeps its pod template (`spec.template`, …); undefined for other kinds. */
export function podTemplatePath(kind: string): string[] | undefined {
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(kind)) return ['spec', 'template'];
  if (kind === 'CronJob') return ['spec', 'jobTemplate', 'spec', 'template'];
  return undefined;
}

function get(obj: unknown, path: readonly (string | number)[]): any {
  let node: any = obj;
  for (const key of path) {
    if (node === null || node === undefined) return undefined;
    node = node[key];
  }
  return node;
}

/**
 * Validates a set of objects that are deployed together (one environment).
 * @returns every finding; an empty array means the set is valid.
 */
export function validateManifests(objects: readonly KubeObject[], options: ValidateOptions = {}): Finding[] {
  const findings: Finding[] = [];
  const add = (obj: KubeObject, field: string, message: string) =>
    findings.push({ object: `${obj.kind}/${obj.metadata?.name ?? '<unnamed>'}`, field, message });

  const secrets: Record<string, readonly string[]> = { ...(options.externalSecrets ?? defaultExternalSecrets()) };
  const configMaps: Record<string, readonly string[]> = { ...(options.externalConfigMaps ?? {}) };
  for (const o of objects) {
    if (o.kind === 'Secret') secrets[o.metadata.name] = Object.keys({ ...(o.data as object), ...(o.stringData as object) });
    if (o.kind === 'ConfigMap') configMaps[o.metadata.name] = Object.keys({ ...(o.data as object) });
  }
  const services = objects.filter((o) => o.kind === 'Service');
  const workloads = objects.filter((o) => podTemplatePath(o.kind));
  const seen = new Set<string>();

  for (const obj of objects) {
    const id = `${obj.apiVersion}/${obj.kind}`;
    const key = `${obj.kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`;
    if (seen.has(key)) add(obj, 'metadata.name', 'duplicate object');
    seen.add(key);
    if (!obj.metadata?.name) add(obj, 'metadata.name', 'is required');
    if (/-[a-f0-9]{8}$/.test(obj.metadata?.name ?? '')) add(obj, 'metadata.name', 'looks like a generated hash suffix; set an explicit name');
    // An accepted scanner finding must say why (charts/scanner-exceptions.ts).
    for (const p of scannerExceptionProblems(obj.metadata?.annotations)) add(obj, `metadata.annotations[${p.key}]`, p.message);

    const Model = SCHEMAS[id];
    if (!Model) {
      add(obj, 'apiVersion', `no OpenAPI schema known for ${id}`);
    } else {
      try {
        new Model(structuredClone(obj)).validate();
      } catch (error: any) {
        for (const e of error.errors ?? [{ instancePath: '', message: String(error.message) }]) {
          add(obj, jsonPointerToPath(e.instancePath) || '(root)', `OpenAPI: ${e.message}`);
        }
      }
    }

    const templatePath = podTemplatePath(obj.kind);
    if (templatePath) checkPodTemplate(obj, templatePath, add, secrets, configMaps, obj.kind !== 'Job' && obj.kind !== 'CronJob');
    if (obj.kind === 'Service') checkService(obj, workloads, add);
    if (obj.kind === 'StatefulSet') {
      const serviceName = get(obj, ['spec', 'serviceName']);
      const svc = services.find((s) => s.metadata.name === serviceName);
      if (!svc) add(obj, 'spec.serviceName', `Service "${serviceName}" is not in the chart`);
      else if (get(svc, ['spec', 'clusterIP']) !== 'None') add(obj, 'spec.serviceName', `Service "${serviceName}" is not headless (clusterIP: None)`);
    }
    if (obj.kind === 'Ingress') checkIngress(obj, services, add);
    if (obj.kind === 'PodDisruptionBudget') {
      const sel = get(obj, ['spec', 'selector', 'matchLabels']) ?? {};
      if (!workloads.some((w) => matches(sel, get(w, [...podTemplatePath(w.kind)!, 'metadata', 'labels'])))) {
        add(obj, 'spec.selector', 'selects no pod template in the chart');
      }
    }
  }
  checkMonitoringObjects(objects, add);
  return findings;
}

type Add = (obj: KubeObject, field: string, message: string) => void;

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function checkPodTemplate(
  obj: KubeObject,
  templatePath: string[],
  add: Add,
  secrets: Record<string, readonly string[]>,
  configMaps: Record<string, readonly string[]>,
  longRunning: boolean,
): void {
  const base = templatePath.join('.');
  const template = get(obj, templatePath);
  const spec = template?.spec;
  if (!spec) {
    add(obj, `${base}.spec`, 'is required');
    return;
  }
  const selector = get(obj, ['spec', 'selector', 'matchLabels']);
  if (obj.kind !== 'Job' && obj.kind !== 'CronJob' && !matches(selector, template.metadata?.labels)) {
    add(obj, 'spec.selector.matchLabels', `does not match ${base}.metadata.labels`);
  }
  const podSc = spec.securityContext ?? {};
  if (podSc.seccompProfile?.type !== 'RuntimeDefault' && podSc.seccompProfile?.type !== 'Localhost') {
    add(obj, `${base}.spec.securityContext.seccompProfile.type`, 'must be RuntimeDefault (restricted Pod Security Standard)');
  }
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) add(obj, `${base}.spec`, 'host namespaces are not allowed (restricted)');
  for (const v of spec.volumes ?? []) {
    if (v.hostPath) add(obj, `${base}.spec.volumes[${v.name}].hostPath`, 'hostPath volumes are not allowed (restricted)');
    if (v.secret) {
      checkRef(obj, `${base}.spec.volumes[${v.name}].secret`, 'Secret', v.secret.secretName, undefined, secrets, add);
      // A listed key that the Secret lacks leaves the pod stuck in ContainerCreating.
      (v.secret.items ?? []).forEach((item: any, j: number) => {
        if (v.secret.secretName in secrets) checkRef(obj, `${base}.spec.volumes[${v.name}].secret.items[${j}]`, 'Secret', v.secret.secretName, item.key, secrets, add);
      });
    }
    if (v.configMap) checkRef(obj, `${base}.spec.volumes[${v.name}].configMap`, 'ConfigMap', v.configMap.name, undefined, configMaps, add);
  }
  const groups: Array<['containers' | 'initContainers', any[]]> = [
    ['containers', spec.containers ?? []],
    ['initContainers', spec.initContainers ?? []],
  ];
  for (const [group, containers] of groups) {
    containers.forEach((c: any, i: number) => {
      const path = `${base}.spec.${group}[${i}]`;
      const sc = c.securityContext ?? {};
      const runAsNonRoot = sc.runAsNonRoot ?? podSc.runAsNonRoot;
      const runAsUser = sc.runAsUser ?? podSc.runAsUser;
      if (runAsNonRoot !== true) add(obj, `${path}.securityContext.runAsNonRoot`, 'must be true (restricted)');
      if (!Number.isInteger(runAsUser) || runAsUser === 0) add(obj, `${path}.securityContext.runAsUser`, 'must be a numeric non-zero UID');
      if (sc.allowPrivilegeEscalation !== false) add(obj, `${path}.securityContext.allowPrivilegeEscalation`, 'must be false (restricted)');
      if (sc.privileged === true) add(obj, `${path}.securityContext.privileged`, 'must not be true');
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) add(obj, `${path}.securityContext.capabilities.drop`, 'must include ALL (restricted)');
      const added = (sc.capabilities?.add ?? []).filter((cap: string) => cap !== 'NET_BIND_SERVICE');
      if (added.length > 0) add(obj, `${path}.securityContext.capabilities.add`, `only NET_BIND_SERVICE may be added, got ${added.join(', ')}`);
      if (sc.readOnlyRootFilesystem !== true) add(obj, `${path}.securityContext.readOnlyRootFilesystem`, 'must be true');
      for (const kind of ['requests', 'limits'] as const) {
        for (const r of ['cpu', 'memory']) {
          if (c.resources?.[kind]?.[r] === undefined) add(obj, `${path}.resources.${kind}.${r}`, 'is required');
        }
      }
      if (group === 'containers' && longRunning) {
        if (!c.readinessProbe) add(obj, `${path}.readinessProbe`, 'is required for a long-running container');
        if (!c.livenessProbe) add(obj, `${path}.livenessProbe`, 'is required for a long-running container');
      }
      const image: string = c.image ?? '';
      if (!image) add(obj, `${path}.image`, 'is required');
      else {
        let problem: string | undefined;
        try {
          problem = unpinnedReason(parseImageReference(image));
        } catch (error) {
          problem = (error as Error).message.slice(image.length + 3);
        }
        if (problem) add(obj, `${path}.image`, `"${image}" ${problem}`);
      }
      (c.env ?? []).forEach((e: any, j: number) => {
        const sk = e.valueFrom?.secretKeyRef;
        if (sk) checkRef(obj, `${path}.env[${j}](${e.name}).valueFrom.secretKeyRef`, 'Secret', sk.name, sk.key, secrets, add);
        const ck = e.valueFrom?.configMapKeyRef;
        if (ck) checkRef(obj, `${path}.env[${j}](${e.name}).valueFrom.configMapKeyRef`, 'ConfigMap', ck.name, ck.key, configMaps, add);
      });
      (c.envFrom ?? []).forEach((e: any, j: number) => {
        if (e.configMapRef) checkRef(obj, `${path}.envFrom[${j}].configMapRef`, 'ConfigMap', e.configMapRef.name, undefined, configMaps, add);
        if (e.secretRef) checkRef(obj, `${path}.envFrom[${j}].secretRef`, 'Secret', e.secretRef.name, undefined, secrets, add);
      });
      const volumeNames = new Set([
        ...(spec.volumes ?? []).map((v: any) => v.name),
        ...(get(obj, ['spec', 'volumeClaimTemplates']) ?? []).map((t: any) => t.metadata?.name),
      ]);
      (c.volumeMounts ?? []).forEach((m: any, j: number) => {
        if (!volumeNames.has(m.name)) add(obj, `${path}.volumeMounts[${j}].name`, `volume "${m.name}" is not defined`);
      });
    });
  }
}

function checkRef(
  obj: KubeObject,
  field: string,
  kind: string,
  name: string,
  key: string | undefined,
  known: Record<string, readonly string[]>,
  add: Add,
): void {
  const keys = known[name];
  if (!keys) add(obj, field, `${kind} "${name}" is neither in the chart nor declared external`);
  else if (key !== undefined && !keys.includes(key)) add(obj, field, `${kind} "${name}" has no key "${key}"`);
}

function checkService(svc: KubeObject, workloads: readonly KubeObject[], add: Add): void {
  const selector: Record<string, string> | undefined = get(svc, ['spec', 'selector']);
  if (!selector || Object.keys(selector).length === 0) return; // selector-less Services are allowed (manual Endpoints)
  const targets = workloads.filter((w) => {
    const metadata = get(w, [...podTemplatePath(w.kind)!, 'metadata']) ?? {};
    // Labels a controller in the pod sets at runtime (Patroni's `role`) count as present.
    const runtime = String(metadata.annotations?.[RUNTIME_LABELS_ANNOTATION] ?? '').split(',').filter(Boolean);
    const fixed = Object.fromEntries(Object.entries(selector).filter(([k]) => !runtime.includes(k)));
    return matches(fixed, metadata.labels);
  });
  if (targets.length === 0) {
    add(svc, 'spec.selector', 'selects no pod template in the chart');
    return;
  }
  (get(svc, ['spec', 'ports']) ?? []).forEach((p: any, i: number) => {
    const target = p.targetPort ?? p.port;
    const declared = targets.some((w) =>
      (get(w, [...podTemplatePath(w.kind)!, 'spec', 'containers']) ?? []).some((c: any) =>
        (c.ports ?? []).some((cp: any) => (typeof target === 'string' ? cp.name === target : cp.containerPort === target)),
      ),
    );
    if (!declared) add(svc, `spec.ports[${i}].targetPort`, `${target} is not a declared container port of the selected pods`);
  });
}

function checkIngress(ing: KubeObject, services: readonly KubeObject[], add: Add): void {
  const backends: Array<[string, any]> = [];
  const def = get(ing, ['spec', 'defaultBackend', 'service']);
  if (def) backends.push(['spec.defaultBackend.service', def]);
  (get(ing, ['spec', 'rules']) ?? []).forEach((r: any, i: number) =>
    (r.http?.paths ?? []).forEach((p: any, j: number) => {
      if (p.backend?.service) backends.push([`spec.rules[${i}].http.paths[${j}].backend.service`, p.backend.service]);
    }),
  );
  for (const [field, backend] of backends) {
    const svc = services.find((s) => s.metadata.name === backend.name);
    if (!svc) {
      add(ing, `${field}.name`, `Service "${backend.name}" is not in the chart`);
      continue;
    }
    const ports = get(svc, ['spec', 'ports']) ?? [];
    const ok = ports.some((p: any) => (backend.port?.name ? p.name === backend.port.name : p.port === backend.port?.number));
    if (!ok) add(ing, `${field}.port`, `Service "${backend.name}" has no port ${backend.port?.name ?? backend.port?.number}`);
  }
}

function jsonPointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^[0-9]+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
}

/** Formats findings one per line: `Kind/name: field: message`. */
export function formatFindings(findings: readonly Finding[]): string {
  return findings.map((f) => `${f.object}: ${f.field}: ${f.message}`).join('\n');
}
