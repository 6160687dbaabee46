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
 * Pinned official images. `app/Dockerfile` builds on `node`; the charts and the compose file run
 * `postgres`, `redis` and `haproxy`; the seeds' local registry is `registry`. The test tooling
 * builds stand-ins under exactly these tags where no registry is reachable.
 *
 * Digests: the manifest-list (multi-platform index) digest Docker Hub published for the tag,
 * recorded here only, with where it was read (`DIGEST_SOURCES`). `ibm` runs these images by
 * digest (`name:tag@sha256:…`, pull policy IfNotPresent: the content cannot change under a
 * digest). `local` runs them by tag: minikube, the test cluster and docker-compose use images
 * built or loaded locally under these tags (test/images), which no registry digest matches.
 * `npm run image-digests` asks the registry for each tag's current digest and, with `--write`,
 * updates this table (run it where Docker Hub is reachable, then review the diff).
 */
export const PINNED_IMAGES = {
  node: { repository: 'node', tag: '20.18.1-bookworm-slim' },
  postgres: { repository: 'postgres', tag: '15.10-bookworm', digest: 'sha256:7304217b23c60c6fea7e8e108cb39e6b96c0fe892e0401749a3a04797defa44c' },
  redis: { repository: 'redis', tag: '7.2.16-bookworm', digest: 'sha256:0637954999d01b7c9ce9167db2da50656e2590d3b884f1c600c5f63bb6e6773c' },
  haproxy: { repository: 'haproxy', tag: '2.6.34-trixie', digest: 'sha256:82c023b4f99e2090b14dbe7f04b0590b4e0af608f7c29cedcabf25c34fb066cd' },
  registry: { repository: 'registry', tag: '2' },
  /**
   * PostgreSQL 15.13 + Patroni 4.0.5 + pgBackRest from Percona's Kubernetes operator 2.7.0
   * (Docker Hub, Apache-2.0, published digest sha256:c93f52ea1d6ec955a368c4539b843a9c57ee4a5acc907f0dfb59ae3018560d1b),
   * run with Patroni directly (no operator) by the HA tier. Stand-in: test/images/patroni.
   * It runs as any UID: it carries nss_wrapper (RPM `nss_wrapper`, `/usr/lib64/libnss_wrapper.so`).
   */
  patroni: {
    repository: 'percona/percona-postgresql-operator',
    tag: '2.7.0-ppg15.13-postgres',
    digest: 'sha256:c93f52ea1d6ec955a368c4539b843a9c57ee4a5acc907f0dfb59ae3018560d1b',
  },
  /**
   * etcd v3, Patroni's DCS in the docker-compose topology with `postgres.mode: ha` (the etcd
   * project's image, the test cluster's version; `etcd` and `etcdctl` in /usr/local/bin, no shell).
   * Stand-in: test/images/etcd.
   */
  etcd: { repository: 'gcr.io/etcd-development/etcd', tag: 'v3.5.35' },
  /** `kubectl` for the backup CronJobs (the Kubernetes project's image, the test cluster's minor). */
  kubectl: { repository: 'registry.k8s.io/kubectl', tag: 'v1.33.13' },
  /**
   * Prometheus exporters of the monitoring layer, at the versions Debian bookworm packages
   * (`prometheus-postgres-exporter` 0.11.1, `prometheus-redis-exporter` 1.45.0), from which the
   * tests run them and the stand-ins are built: the metric names the tests check are the ones
   * these images expose. postgres_exporter runs as `nobody` (65534), redis_exporter as 59000.
   */
  postgresExporter: { repository: 'quay.io/prometheuscommunity/postgres-exporter', tag: 'v0.11.1' },
  redisExporter: { repository: 'oliver006/redis_exporter', tag: 'v1.45.0' },
} as const satisfies Record<string, ImageReference>;

/**
 * Where each recorded digest was read. No registry is reachable from the machines this project
 * is built on, so the digests come from docker-library/repo-info (the official images' own
 * published record of every tag's manifest list), not from a pull. Tags changed where no
 * published digest of the previous tag could be found: redis 7.0 is end-of-life and its
 * `7.0.15-bookworm` digest is in no public record, so redis moves to 7.2.16 (the 7.2 line, still
 * BSD-licensed, closest to 7.0); the official haproxy images moved from bookworm to trixie, and
 * no digest of `2.6.18-bookworm` is on record, so haproxy moves to 2.6.34 (the same 2.6 LTS line).
 */
export const DIGEST_SOURCES: Readonly<Record<'postgres' | 'redis' | 'haproxy' | 'patroni', string>> = {
  postgres:
    'docker-library/repo-info repos/postgres/remote/15-bookworm.md, revision of the 2025-02-04 rebuild ' +
    '(PG_VERSION 15.10-1.pgdg120+1), when 15.10-bookworm and 15-bookworm named the same manifest list',
  redis: 'docker-library/repo-info repos/redis/remote/7.2.16-bookworm.md at commit 0ae7309187d6256f5549f0408473cfa4a23383ea',
  haproxy: 'docker-library/repo-info repos/haproxy/remote/2.6.34-trixie.md at commit 0ed0a0ed36758e850c095b6380c2517baff81896',
  patroni: "Percona Operator for PostgreSQL documentation, release notes' \"Percona certified images\" table for operator 2.7.0 (x86_64)",
};

/**
 * UIDs of the official images' own users (postgres and redis 999, haproxy 99 since 2.4), which
 * the stand-ins keep. The pods do not run as these: each runs as its component's high UID
 * (`uid` in components.ts), which the images support (docs/security.md).
 */
export const POSTGRES_IMAGE_UID = 999;
export const REDIS_IMAGE_UID = 999;
export const HAPROXY_IMAGE_UID = 99;
