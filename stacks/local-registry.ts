/**
 * `expense:index:LocalRegistry` — a `registry:2` container with a named volume, published on
 * 127.0.0.1:<port> only, and the app image built from `app/Dockerfile` and pushed to it.
 *
 * Uses @pulumi/docker against the Docker engine of `DOCKER_HOST` (default socket).
 * `imageRef` is `localhost:<port>/expense-tracker@sha256:…` (the pushed digest);
 * `pullRepository` is the repository name clusters use to pull: `localhost:<port>/…` from the
 * host, `<containerName>:5000/…` from the docker networks the registry joins (minikube's).
 */
import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import { fileURLToPath } from 'node:url';

/** Arguments of {@link LocalRegistry}. */
export interface LocalRegistryArgs {
  /** Host port on 127.0.0.1. @default 5000 */
  port?: number;
  /** Container name (also its DNS name on `networks`). @default "expense-registry" */
  containerName?: string;
  /** Docker networks to attach besides the default bridge (e.g. `minikube`). @default [] */
  networks?: pulumi.Input<string>[];
  /** Registry image. @default "registry:2" */
  registryImage?: string;
  /** Tag of the app image (immutable; never `latest`). */
  imageTag: string;
  /** Repository path inside the registry. @default "expense-tracker" */
  repositoryPath?: string;
  /** Directory holding `Dockerfile` and the build context. @default the repo's `app/` */
  appDirectory?: string;
}

/** A loopback-only registry and the app image pushed to it. */
export class LocalRegistry extends pulumi.ComponentResource {
  /** Repository path of the app image inside the registry. */
  static readonly DEFAULT_REPOSITORY_PATH = 'expense-tracker';

  /** Repository clusters on the registry's docker networks pull from: `<containerName>:5000/<path>`. */
  static networkRepositoryOf(containerName: string, path = LocalRegistry.DEFAULT_REPOSITORY_PATH): string {
    return `${containerName}:5000/${path}`;
  }

  readonly container: docker.Container;
  readonly volume: docker.Volume;
  readonly image: docker.Image;
  /** `localhost:<port>/<path>:<tag>` — the name the image was pushed under. */
  readonly imageName: pulumi.Output<string>;
  /** The pushed image with its digest, `localhost:<port>/<path>@sha256:…`. */
  readonly imageRef: pulumi.Output<string>;
  /** Repository to pull from inside the attached docker networks (`<containerName>:5000/<path>`). */
  readonly networkRepository: string;
  /** `host:port` of the registry on the attached networks (for `--insecure-registry`). */
  readonly networkAddress: string;

  constructor(name: string, args: LocalRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    super('expense:index:LocalRegistry', name, {}, opts);
    const port = args.port ?? 5000;
    const containerName = args.containerName ?? 'expense-registry';
    const path = args.repositoryPath ?? LocalRegistry.DEFAULT_REPOSITORY_PATH;
    const appDirectory = args.appDirectory ?? fileURLToPath(new URL('../app', import.meta.url));

    this.volume = new docker.Volume(`${name}-data`, { name: `${containerName}-data` }, { parent: this });
    const registryImage = new docker.RemoteImage(`${name}-image`, { name: args.registryImage ?? 'registry:2', keepLocally: true }, { parent: this });
    this.container = new docker.Container(
      `${name}-container`,
      {
        name: containerName,
        image: registryImage.imageId,
        restart: 'unless-stopped',
        ports: [{ internal: 5000, external: port, ip: '127.0.0.1', protocol: 'tcp' }],
        volumes: [{ volumeName: this.volume.name, containerPath: '/var/lib/registry' }],
        envs: ['REGISTRY_STORAGE_DELETE_ENABLED=true'],
        networksAdvanced: (args.networks ?? []).map((network) => ({ name: network, aliases: [containerName] })),
        mustRun: true,
      },
      { parent: this },
    );
    this.networkAddress = `${containerName}:5000`;
    this.networkRepository = LocalRegistry.networkRepositoryOf(containerName, path);

    const imageName = `localhost:${port}/${path}:${args.imageTag}`;
    this.image = new docker.Image(
      `${name}-app`,
      {
        imageName,
        build: { context: appDirectory, dockerfile: `${appDirectory}/Dockerfile`, platform: 'linux/amd64' },
        registry: { server: `localhost:${port}` },
        skipPush: false,
      },
      { parent: this, dependsOn: [this.container] },
    );
    this.imageName = this.image.imageName;
    this.imageRef = this.image.repoDigest;
    this.registerOutputs({ imageName: this.imageName, imageRef: this.imageRef });
  }
}
