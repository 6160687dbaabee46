/**
 * Container image references: the one type every layer uses (environment schema, constructs,
 * manifest validator, Pulumi stacks, compose renderer), its grammar, and the pinned third-party
 * images the deployment runs.
 *
 * Grammar: the Docker/OCI reference format (https://github.com/distribution/reference,
 * https://docs.docker.com/reference/cli/docker/image/tag/): `[registry[:port]/]path[:tag][@digest]`.
 */

/** A parsed image reference. */
export interface ImageReference {
  /** Registry and repository path without tag or digest, e.g. `localhost:5000/expense-tracker`, `postgres`. */
  readonly repository: string;
  /** Tag, e.g. `15.10-bookworm`; undefined (or empty) when the reference is pinned by digest only. */
  readonly tag?: string;
  /** Content digest `<algorithm>:<hex>`, e.g. `sha256:…`; undefined (or empty) when not pinned by digest. */
  readonly digest?: string;
}

/** Tag grammar: up to 128 characters of `[A-Za-z0-9_.-]`, not starting with `.` or `-`. */
export const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Repository grammar: optional `host[:port]/`, then lower-case path components. */
export const IMAGE_REPOSITORY = /^([a-z0-9.-]+(:[0-9]+)?\/)?[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
/** Digest grammar (OCI image spec, "Digests"): `algorithm:encoded`, e.g. `sha256:<64 hex>`. */
export const IMAGE_DIGEST = /^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

/** Raised by `parseImageReference`; the message says which part is wrong. */
export class ImageReferenceError extends Error {
  constructor(
    readonly reference: string,
    reason: string,
  ) {
    super(`"${reference}" ${reason}`);
    this.name = 'ImageReferenceError';
  }
}

/**
 * Parses `[registry[:port]/]path[:tag][@digest]`.
 * @throws ImageReferenceError for a malformed repository, tag or digest
 */
export function parseImageReference(text: string): ImageReference {
  const at = text.indexOf('@');
  const digest = at >= 0 ? text.slice(at + 1) : undefined;
  const named = at >= 0 ? text.slice(0, at) : text;
  const slash = named.lastIndexOf('/');
  const colon = named.lastIndexOf(':');
  const tag = colon > slash ? named.slice(colon + 1) : undefined;
  const repository = colon > slash ? named.slice(0, colon) : named;
  if (!IMAGE_REPOSITORY.test(repository)) throw new ImageReferenceError(text, 'has a malformed repository (lower-case [registry[:port]/]path)');
  if (tag !== undefined && !IMAGE_TAG.test(tag)) throw new ImageReferenceError(text, 'has a malformed tag');
  if (digest !== undefined && !IMAGE_DIGEST.test(digest)) throw new ImageReferenceError(text, 'has a malformed digest (algorithm:hex)');
  return { repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `repository[:tag][@digest]`. */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/**
 * Why a reference is not pinned to immutable content, or undefined when it is: it must carry a
 * digest, or a tag other than `latest` (a moving tag would change what runs without a change here).
 */
export function unpinnedReason(ref: ImageReference): string | undefined {
  if (ref.digest) return undefined;
  if (!ref.tag) return 'is untagged';
  if (ref.tag === 'latest') return 'uses the latest tag';
  return undefined;
}

/**
 * Pinned official images (Debian variants). `app/Dockerfile` builds on `node`; the charts and
 * the compose file run `postgres`, `redis` and `haproxy`; the seeds' local registry is `registry`.
 * The test tooling builds stand-ins under exactly these references where no registry is reachable.
 */
export const PINNED_IMAGES = {
  node: { repository: 'node', tag: '20.18.1-bookworm-slim' },
  postgres: { repository: 'postgres', tag: '15.10-bookworm' },
  redis: { repository: 'redis', tag: '7.0.15-bookworm' },
  haproxy: { repository: 'haproxy', tag: '2.6.18-bookworm' },
  registry: { repository: 'registry', tag: '2' },
} as const satisfies Record<string, ImageReference>;

/**
 * UIDs the official images run their servers as (Debian variants): postgres and redis 999,
 * haproxy 99 since 2.4. The pods run as these numeric users so the data they write stays
 * readable across restarts.
 */
export const POSTGRES_UID = 999;
export const REDIS_UID = 999;
export const HAPROXY_UID = 99;
