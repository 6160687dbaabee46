/**
 * Images of real-node clusters, built with the private Docker engine and pushed to the shared
 * registry storage (see registry.ts):
 * - the node's own components, each a static Go binary from the build cache in a `FROM scratch`
 *   image (`localhost:5000/expense-tracker-test/<name>:<version>`): the pod sandbox, CoreDNS,
 *   local-path-provisioner, Traefik, and the Prometheus Operator with its config reloader and
 *   Prometheus (run by the suites of environments with monitoring);
 * - the stand-in base images under their Docker Hub names (`library/postgres:…`, …), including
 *   `debian:bookworm-slim` for local-path-provisioner's helper pods;
 * - the app image under the local and the ibm environment's names;
 * - kubectl of the backup CronJobs under the production name (`registry.k8s.io/kubectl:<release>`,
 *   model/images.ts): the Debian stand-in plus the kubectl this project builds (test/images/kubectl).
 * A pushed image whose config digest equals the local image ID is not pushed again.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENVIRONMENT_NAMES, loadEnvironment } from '@expense-tracker/model/environment';
import { formatImageReference, PINNED_IMAGES } from '@expense-tracker/model/images';
import { acquireEngine, docker, releaseEngine, type EnginePaths } from '@expense-tracker/tools/docker-engine/engine';
import { BASE_IMAGES, BUILD_KEY_LABEL, buildAppImage, buildImage, DEBIAN_TAG, ensureBaseImages, IMAGES_DIR, inspectImage, sha256File } from '@expense-tracker/tools/docker-engine/images';
import { withLock, type Progress } from '@expense-tracker/tools/process/index';
import { binaryPath, ensureBinaries, selectBinaries } from '../build.js';
import { BINARIES, KUBERNETES_VERSION, type NodeBinary } from '../versions.js';
import { mirrorRepository, withPushRegistry } from './registry.js';

/** Registry path prefix of the node's component images. */
export const NODE_IMAGE_PREFIX = 'localhost:5000/expense-tracker-test';

/** Components that run as pods, each packaged from its binary. */
export type ComponentImage = Extract<NodeBinary, 'pause' | 'coredns' | 'local-path-provisioner' | 'traefik' | 'prometheus-operator' | 'prometheus-config-reloader' | 'prometheus'>;
const COMPONENTS: readonly ComponentImage[] = ['pause', 'coredns', 'local-path-provisioner', 'traefik', 'prometheus-operator', 'prometheus-config-reloader', 'prometheus'];
const binarySpec = (name: ComponentImage) => BINARIES.find((b) => b.name === name)!;
/** Components the node needs before any workload (the monitoring stack's run only where a suite deploys them). */
const NODE_COMPONENTS = COMPONENTS.filter((name) => binarySpec(name).role !== 'monitoring');
/**
 * Where a component's binary sits in its image when a consumer relies on upstream's layout: the
 * Prometheus Operator starts the config reloader with `command: [/bin/prometheus-config-reloader]`
 * and Prometheus with arguments only (upstream's entrypoint `/bin/prometheus`). @default `/<name>`
 */
const COMPONENT_PATHS: Partial<Record<ComponentImage, string>> = {
  'prometheus-config-reloader': '/bin/prometheus-config-reloader',
  prometheus: '/bin/prometheus',
};

/** Image reference of a component: `localhost:5000/expense-tracker-test/<name>:<version>[-<variant>]`. */
export function componentImage(name: ComponentImage): string {
  const spec = BINARIES.find((b) => b.name === name);
  if (!spec) throw new Error(`no binary spec for ${name}`);
  return `${NODE_IMAGE_PREFIX}/${name}:${spec.version}${spec.variant ? `-${spec.variant}` : ''}`;
}

/** local-path-provisioner's helper pods (mkdir/rm of volume directories) run the Debian stand-in. */
export const HELPER_IMAGE = `docker.io/library/${DEBIAN_TAG}`;

export interface PushedImage {
  reference: string;
  pushed: boolean;
}

/** Pushes local image `source` to the registry as `reference` (mirror path) unless it is there with the same ID. */
async function push(hostPort: string, source: string, reference: string, paths: EnginePaths, progress: Progress): Promise<PushedImage> {
  const local = await inspectImage(source, paths);
  if (!local) throw new Error(`image ${source} does not exist in the Docker engine`);
  const { repository, tag } = mirrorRepository(reference);
  const res = await fetch(`http://${hostPort}/v2/${repository}/manifests/${tag}`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
  if (res.ok && ((await res.json()) as { config?: { digest?: string } }).config?.digest === local.id) return { reference, pushed: false };
  const target = `${hostPort}/${repository}:${tag}`;
  progress(`pushing ${reference} (${source})`);
  await docker(['tag', source, target], {}, paths);
  try {
    await docker(['push', '--quiet', target], {}, paths);
  } finally {
    await docker(['rmi', target], { reject: false }, paths);
  }
  return { reference, pushed: true };
}

/** Builds `FROM scratch` + one static binary, tagged `reference`, labelled with the binary's SHA-256 (`key`). */
async function buildComponentImage(name: ComponentImage, reference: string, key: string, paths: EnginePaths): Promise<void> {
  const context = mkdtempSync(join(tmpdir(), `etk-image-${name}-`));
  try {
    copyFileSync(binaryPath(binarySpec(name)), join(context, name));
    chmodSync(join(context, name), 0o555);
    const path = COMPONENT_PATHS[name] ?? `/${name}`;
    // Numeric non-root user; components that need more (the policy controller) get it from their pod spec.
    writeFileSync(join(context, 'Dockerfile'), `FROM scratch\nCOPY ${name} ${path}\nUSER 65532:65532\nENTRYPOINT ["${path}"]\n`);
    await buildImage({ context, tag: reference, labels: { [BUILD_KEY_LABEL]: key }, paths });
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

/**
 * The backup CronJobs' kubectl image under its production reference.
 * @throws Error when the pinned release differs from the one the test cluster builds (the
 *   stand-in would carry another kubectl under that name).
 */
export function kubectlImageReference(): string {
  if (PINNED_IMAGES.kubectl.tag !== KUBERNETES_VERSION) {
    throw new Error(`model/images.ts PINNED_IMAGES.kubectl is ${PINNED_IMAGES.kubectl.tag}, the test cluster builds kubectl ${KUBERNETES_VERSION}: keep them equal`);
  }
  return formatImageReference({ repository: PINNED_IMAGES.kubectl.repository, tag: PINNED_IMAGES.kubectl.tag });
}

/** Builds test/images/kubectl with the test cluster's kubectl binary unless an image with the same inputs exists. */
async function ensureKubectlImage(reference: string, paths: EnginePaths, progress: Progress): Promise<void> {
  const binary = binaryPath(BINARIES.find((b) => b.name === 'kubectl')!);
  const dockerfile = join(IMAGES_DIR, 'kubectl', 'Dockerfile');
  const parent = await inspectImage(DEBIAN_TAG, paths);
  if (!parent) throw new Error(`image ${DEBIAN_TAG} does not exist in the Docker engine`);
  const key = createHash('sha256').update(readFileSync(dockerfile)).update(await sha256File(binary)).update(parent.id).digest('hex');
  if ((await inspectImage(reference, paths))?.key === key) return;
  progress(`building image ${reference} (kubectl ${KUBERNETES_VERSION} on ${DEBIAN_TAG})`);
  const context = mkdtempSync(join(tmpdir(), 'etk-image-kubectl-'));
  try {
    copyFileSync(dockerfile, join(context, 'Dockerfile'));
    copyFileSync(binary, join(context, 'kubectl'));
    chmodSync(join(context, 'kubectl'), 0o555);
    await buildImage({ context, tag: reference, labels: { [BUILD_KEY_LABEL]: key }, paths });
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

export interface EnsureImagesOptions {
  progress: Progress;
  /** Also build and push the app image under these references (e.g. `localhost:5000/expense-tracker:0.1.0`). */
  appImages?: readonly string[];
  /** Only these component images, and no stand-ins. @default every component and every stand-in */
  only?: readonly ComponentImage[];
  /**
   * Also the monitoring stack's component images (Prometheus Operator, config reloader,
   * Prometheus), for a cluster of an environment with `monitoring.enabled`. Without it neither
   * they nor their binaries are built, so a cluster without monitoring never waits for them.
   * @default false
   */
  monitoring?: boolean;
}

/**
 * Makes sure the registry storage holds every component image and stand-in image (and the app
 * image under `appImages`): builds what is missing with the private Docker engine, pushes what
 * differs. Serialized across processes by the `registry-push` lock.
 * @returns every reference with whether it was pushed now.
 */
export async function ensureClusterImages(options: EnsureImagesOptions): Promise<PushedImage[]> {
  const { progress } = options;
  const roles = options.monitoring ? 'all' : 'node';
  if (!options.only) await ensureBinaries({ progress, roles });
  const selected = new Set<string>(selectBinaries(roles).map((b) => b.name));
  const components = options.only ?? COMPONENTS.filter((name) => selected.has(name));
  return withLock('registry-push', async () => {
    const lease = await acquireEngine();
    const work = mkdtempSync(join(tmpdir(), 'etk-push-'));
    try {
      const paths = lease.paths;
      if (!options.only) await ensureBaseImages({ paths });
      return await withPushRegistry(work, async (hostPort) => {
        const results: PushedImage[] = [];
        for (const name of components) {
          const reference = componentImage(name);
          // Rebuilt whenever the binary changed (same version, different build recipe).
          const key = await sha256File(binaryPath(binarySpec(name)));
          if ((await inspectImage(reference, paths))?.key !== key) {
            progress(`building image ${reference}`);
            await buildComponentImage(name, reference, key, paths);
          }
          results.push(await push(hostPort, reference, reference, paths, progress));
        }
        if (!options.only) {
          for (const tag of [DEBIAN_TAG, ...BASE_IMAGES.map((b) => b.tag)]) results.push(await push(hostPort, tag, tag, paths, progress));
          const kubectl = kubectlImageReference();
          await ensureKubectlImage(kubectl, paths, progress);
          results.push(await push(hostPort, kubectl, kubectl, paths, progress));
        }
        const [firstApp, ...otherApps] = options.appImages ?? [];
        if (firstApp) {
          await buildAppImage(firstApp, [], paths);
          results.push(await push(hostPort, firstApp, firstApp, paths, progress));
          for (const reference of otherApps) results.push(await push(hostPort, firstApp, reference, paths, progress));
        }
        return results;
      });
    } finally {
      rmSync(work, { recursive: true, force: true });
      await releaseEngine(lease);
    }
  }, { progress });
}

/** References of every image a started node needs before any workload (the components and the helper). */
export function requiredNodeImages(): string[] {
  return [...NODE_COMPONENTS.map(componentImage), HELPER_IMAGE];
}


/** The app image under every environment's name (`image.repository:image.tag`; IMAGE_TAG overrides the tag). */
export function appImageReferences(tag?: string): string[] {
  return [...new Set(ENVIRONMENT_NAMES.map((name) => {
    const { image } = loadEnvironment(name, tag ? { imageTag: tag } : {});
    return `${image.repository}:${image.tag}`;
  }))];
}
