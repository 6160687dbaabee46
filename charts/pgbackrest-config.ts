/**
 * `pgbackrest.conf` for the expense tracker's PostgreSQL, from typed settings: one stanza,
 * one repository (`repo1`), retention, compression and the paths of one PostgreSQL member.
 * The `PostgresHa` construct mounts it from a ConfigMap; the database tests run pgBackRest on
 * loopback with the very same renderer, so what they prove is what the cluster ships.
 *
 * Option names and meanings: https://pgbackrest.org/configuration.html (pgBackRest 2.45).
 * Credentials are never rendered: pgBackRest reads `PGBACKREST_REPO1_S3_KEY` and
 * `PGBACKREST_REPO1_S3_KEY_SECRET` from the environment (a Secret in the cluster).
 */

/** An S3-compatible repository (IBM Cloud Object Storage, AWS S3, MinIO, moto, …). */
export interface S3Repository {
  readonly type: 's3';
  /** Endpoint host name without scheme, e.g. `s3.us-south.cloud-object-storage.appdomain.cloud`. */
  readonly endpoint: string;
  readonly bucket: string;
  /** Region name the endpoint expects in request signatures (IBM COS: the location, e.g. `us-south`). */
  readonly region: string;
  /**
   * Path prefix of this repository inside the bucket.
   * @default '/pgbackrest'
   */
  readonly path?: string;
  /**
   * `host` (virtual-hosted, `<bucket>.<endpoint>`) or `path` (`<endpoint>/<bucket>`).
   * @default 'host'
   */
  readonly uriStyle?: 'host' | 'path';
  /**
   * HTTPS port of the endpoint.
   * @default 443
   */
  readonly port?: number;
  /**
   * PEM file of a CA to trust for the endpoint (private endpoints, tests).
   * @default - the system trust store
   */
  readonly caFile?: string;
}

/** A repository on a mounted filesystem (a PVC). */
export interface PosixRepository {
  readonly type: 'posix';
  /** Absolute directory of the repository. */
  readonly path: string;
}

export type BackupRepository = S3Repository | PosixRepository;

/** How many backups pgBackRest keeps (`repo1-retention-*`); WAL older than the oldest kept backup is expired. */
export interface BackupRetention {
  /** Full backups to keep (count). */
  readonly full: number;
  /** Differential backups to keep (count); must not exceed 9999999. */
  readonly diff: number;
}

/** Settings of `renderPgbackrestConfig`. */
export interface PgbackrestConfigSettings {
  /** Stanza name (one per PostgreSQL cluster). */
  readonly stanza: string;
  readonly repository: BackupRepository;
  readonly retention: BackupRetention;
  /** PGDATA of the member pgBackRest runs next to. */
  readonly pgPath: string;
  /** PostgreSQL port. */
  readonly pgPort: number;
  /** Unix socket directory of PostgreSQL. */
  readonly pgSocketPath: string;
  /** Writable directory for pgBackRest's lock files, logs and async archive spool (an emptyDir in pods). */
  readonly workPath: string;
  /**
   * Parallel processes for backup and restore.
   * @default 1
   */
  readonly processMax?: number;
  /**
   * Push WAL asynchronously through the spool (faster under write bursts).
   * @default true
   */
  readonly archiveAsync?: boolean;
}

/** Stanza names pgBackRest accepts and we use in paths: lower-case letters, digits, `-`, `_`. */
export const STANZA_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/**
 * Renders `pgbackrest.conf` (INI) with a `[global]` section (repository, retention, paths) and
 * the stanza section (the PostgreSQL member).
 * @throws Error naming the field for a malformed stanza, endpoint, bucket, path or retention.
 */
export function renderPgbackrestConfig(s: PgbackrestConfigSettings): string {
  if (!STANZA_NAME.test(s.stanza)) throw new Error(`pgbackrest stanza must match ${STANZA_NAME}, got "${s.stanza}"`);
  if (!Number.isInteger(s.retention.full) || s.retention.full < 1 || s.retention.full > 9999999) {
    throw new Error(`retention.full must be an integer from 1 to 9999999, got ${s.retention.full}`);
  }
  if (!Number.isInteger(s.retention.diff) || s.retention.diff < 1 || s.retention.diff > 9999999) {
    throw new Error(`retention.diff must be an integer from 1 to 9999999, got ${s.retention.diff}`);
  }
  for (const [field, value] of [['pgPath', s.pgPath], ['pgSocketPath', s.pgSocketPath], ['workPath', s.workPath]] as const) {
    if (!value.startsWith('/') || /\s/.test(value)) throw new Error(`${field} must be an absolute path without whitespace, got "${value}"`);
  }
  const g: [string, string | number][] = [];
  const r = s.repository;
  if (r.type === 's3') {
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(r.endpoint)) throw new Error(`repository.endpoint must be a host name without scheme or port, got "${r.endpoint}"`);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(r.bucket)) throw new Error(`repository.bucket must be an S3 bucket name, got "${r.bucket}"`);
    if (!/^[a-z0-9-]+$/.test(r.region)) throw new Error(`repository.region must be a region name such as "us-south", got "${r.region}"`);
    const path = r.path ?? '/pgbackrest';
    if (!/^\/[A-Za-z0-9._/-]*$/.test(path)) throw new Error(`repository.path must be an absolute path of [A-Za-z0-9._/-], got "${path}"`);
    g.push(['repo1-type', 's3'], ['repo1-path', path], ['repo1-s3-endpoint', r.endpoint], ['repo1-s3-bucket', r.bucket], ['repo1-s3-region', r.region]);
    g.push(['repo1-s3-uri-style', r.uriStyle ?? 'host']);
    if (r.port !== undefined && r.port !== 443) g.push(['repo1-storage-port', r.port]);
    if (r.caFile) g.push(['repo1-storage-ca-file', r.caFile]);
  } else {
    if (!/^\/[A-Za-z0-9._/-]*$/.test(r.path)) throw new Error(`repository.path must be an absolute path of [A-Za-z0-9._/-], got "${r.path}"`);
    g.push(['repo1-type', 'posix'], ['repo1-path', r.path]);
  }
  g.push(
    ['repo1-retention-full-type', 'count'],
    ['repo1-retention-full', s.retention.full],
    ['repo1-retention-diff', s.retention.diff],
    ['compress-type', 'zst'],
    ['process-max', s.processMax ?? 1],
    // Backups start with an immediate checkpoint: a scheduled backup should not wait for checkpoint_timeout.
    ['start-fast', 'y'],
    ['delta', 'y'],
    ['archive-async', s.archiveAsync === false ? 'n' : 'y'],
    ['spool-path', `${s.workPath}/spool`],
    ['lock-path', `${s.workPath}/lock`],
    ['log-path', `${s.workPath}/log`],
    // Containers log to stderr; no log files to fill the emptyDir.
    ['log-level-file', 'off'],
    ['log-level-console', 'info'],
    ['log-level-stderr', 'off'],
  );
  const stanza: [string, string | number][] = [
    ['pg1-path', s.pgPath],
    ['pg1-port', s.pgPort],
    ['pg1-socket-path', s.pgSocketPath],
  ];
  const section = (name: string, lines: [string, string | number][]) => [`[${name}]`, ...lines.map(([k, v]) => `${k}=${v}`)].join('\n');
  return `${section('global', g)}\n\n${section(s.stanza, stanza)}\n`;
}
