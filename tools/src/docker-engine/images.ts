/**
 * Stand-in base images for machines without a container registry (see test/images/README.md).
 *
 * 1. `debootstrap --variant=minbase bookworm` → `test/images/debian/slim-rootfs.sh` → tarball
 *    (cached in `<engine>/base/`), `docker import` as `debian:bookworm-slim`.
 * 2. The Dockerfiles under `test/images/<name>/` build on it and are tagged with exactly the
 *    names `app/Dockerfile` and the charts use: the tags of model/images.ts PINNED_IMAGES.
 *
 * Every image carries the label `org.expense-tracker.build-key`: a SHA-256 over its inputs (all
 * files of its directory, pinned npm tarball integrities, and the IDs of its parent images). An
 * image whose label matches is not rebuilt, so a warm run costs a few `docker image inspect`s;
 * a changed Dockerfile or parent rebuilds exactly the affected images.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { formatImageReference, PINNED_IMAGES } from '@expense-tracker/model/images';
import { onLines, withLock } from '../process/index.js';
import { DOCKER_CLI, docker, dockerEnv, enginePaths, progress, type EnginePaths } from './engine.js';

/** Repository root (three levels above this file: tools/src/docker-engine). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Directory of the stand-in image definitions. */
export const IMAGES_DIR = join(REPO_ROOT, 'test', 'images');
/** Image label holding the SHA-256 of an image's build inputs. */
export const BUILD_KEY_LABEL = 'org.expense-tracker.build-key';

/** Debian mirror for debootstrap (the same one apt uses on these machines). */
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
const DEBOOTSTRAP_ARGS = ['--variant=minbase', 'bookworm'];

/** One stand-in image built from `test/images/<dir>/Dockerfile`. */
export interface BaseImageSpec {
  /** Directory under test/images/. */
  readonly dir: string;
  /** The exact reference the consumers use, e.g. `postgres:15.10-bookworm`. */
  readonly tag: string;
  /**
   * Stage the build machine's npm CA bundle as `npm-ca.pem` in the context (empty when npm
   * uses the default CAs); the Dockerfile decides what to do with it.
   */
  readonly npmCaBundle?: boolean;
}

/** Tag given to the imported debootstrap root filesystem. */
export const DEBIAN_TAG = 'debian:bookworm-slim';

/** `repository:tag` of a pinned image: stand-ins carry the tag only, never the registry's digest. */
const tagOf = (image: keyof typeof PINNED_IMAGES): string =>
  formatImageReference({ repository: PINNED_IMAGES[image].repository, tag: PINNED_IMAGES[image].tag });

/**
 * Every stand-in image, parents first, tagged as model/images.ts PINNED_IMAGES names them
 * (`app/Dockerfile`'s `FROM node:…`, the charts, compose and the seeds' local registry);
 * test/containers checks they agree.
 */
export const BASE_IMAGES: readonly BaseImageSpec[] = [
  { dir: 'node', tag: tagOf('node'), npmCaBundle: true },
  { dir: 'postgres', tag: tagOf('postgres') },
  { dir: 'redis', tag: tagOf('redis') },
  { dir: 'haproxy', tag: tagOf('haproxy') },
  { dir: 'registry', tag: tagOf('registry') },
  // The build machine's CA bundle serves pip inside the build as it serves npm in `node`.
  { dir: 'patroni', tag: tagOf('patroni'), npmCaBundle: true },
  { dir: 'etcd', tag: tagOf('etcd') },
  { dir: 'postgres-exporter', tag: tagOf('postgresExporter') },
  { dir: 'redis-exporter', tag: tagOf('redisExporter') },
];

/** Outcome for one image. */
export interface ImageResult {
  readonly tag: string;
  /** True when an image with a matching build key already existed. */
  readonly cached: boolean;
  /** Seconds spent building (0 when cached). */
  readonly seconds: number;
  /** Image size in bytes (`docker image inspect .Size`). */
  readonly sizeBytes: number;
  readonly id: string;
}

interface NpmTarball {
  readonly spec: string;
  readonly file: string;
  /** Subresource-integrity string (`sha512-<base64>`) as published in the npm registry. */
  readonly integrity: string;
}

/** Image ID and build-key label of `ref`, or undefined when the image does not exist. */
export async function inspectImage(ref: string, paths: EnginePaths = enginePaths()): Promise<{ id: string; key: string; size: number } | undefined> {
  const r = await docker(['image', 'inspect', '--format', `{{.Id}} {{.Size}} {{with .Config.Labels}}{{index . "${BUILD_KEY_LABEL}"}}{{end}}`, ref], { reject: false }, paths);
  if (r.exitCode !== 0) return undefined;
  const [id, size, key] = String(r.stdout).trim().split(' ');
  return { id, size: Number(size), key: key === '<no' ? '' : (key ?? '') };
}

/** SHA-256 (hex) of a file, streamed. */
export function sha256File(file: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', fail)
      .on('end', () => done(hash.digest('hex')));
  });
}

/** Files of a directory (recursive), sorted, as paths relative to it. */
function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(dir, join(prefix, e.name)) : [join(prefix, e.name)]))
    .sort();
}

/** SHA-256 over names, modes and contents of every file in `dir`, plus `extra` strings. */
export function hashInputs(dir: string, extra: readonly string[] = []): string {
  const hash = createHash('sha256');
  for (const f of listFiles(dir)) {
    const full = join(dir, f);
    hash.update(`${f}\0${statSync(full).mode & 0o777}\0`);
    hash.update(readFileSync(full));
    hash.update('\0');
  }
  for (const e of extra) hash.update(`${e}\0`);
  return hash.digest('hex');
}

/** Parent references of a Dockerfile (`FROM <ref>` of every stage, stage aliases excluded). */
export function dockerfileParents(dockerfile: string): string[] {
  const stages = new Set<string>();
  const parents: string[] = [];
  for (const line of dockerfile.split('\n')) {
    const m = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!m) continue;
    if (!stages.has(m[1].toLowerCase()) && m[1] !== 'scratch') parents.push(m[1]);
    if (m[2]) stages.add(m[2].toLowerCase());
  }
  return [...new Set(parents)];
}

/**
 * Ensures `debian:bookworm-slim` exists: debootstrap (cached as a tarball), slim, import.
 * @throws Error when debootstrap or the import fails (the partial tree is removed).
 */
export async function ensureDebianBase(paths: EnginePaths = enginePaths(), force = false): Promise<ImageResult> {
  const began = Date.now();
  const slimScript = join(IMAGES_DIR, 'debian', 'slim-rootfs.sh');
  const recipe = hashInputs(join(IMAGES_DIR, 'debian'), [...DEBOOTSTRAP_ARGS, DEBIAN_MIRROR]);
  const base = paths.baseCache;
  mkdirSync(base, { recursive: true });
  const tarball = join(base, `debian-bookworm-minbase-${recipe.slice(0, 12)}.tar`);
  const shaFile = `${tarball}.sha256`;
  if (force || !existsSync(shaFile)) {
    const rootfs = join(base, 'rootfs-build');
    rmSync(rootfs, { recursive: true, force: true });
    progress(`debootstrap ${DEBOOTSTRAP_ARGS.join(' ')} (about 30 s, ~200 MB; cached in ${base})`);
    try {
      await execa('nice', ['-n', '10', 'debootstrap', ...DEBOOTSTRAP_ARGS, rootfs, DEBIAN_MIRROR], { all: true });
      await execa('sh', [slimScript, rootfs]);
      await execa('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-cf', `${tarball}.partial`, '.']);
      renameSync(`${tarball}.partial`, tarball);
      writeFileSync(shaFile, `${await sha256File(tarball)}\n`);
    } catch (err) {
      rmSync(`${tarball}.partial`, { force: true });
      throw new Error(`building the bookworm root filesystem failed: ${(err as { all?: string }).all?.slice(-2000) ?? String(err)}`);
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  }
  const key = readFileSync(shaFile, 'utf8').trim();
  const existing = await inspectImage(DEBIAN_TAG, paths);
  if (existing && existing.key === key && !force) {
    return { tag: DEBIAN_TAG, cached: true, seconds: 0, sizeBytes: existing.size, id: existing.id };
  }
  progress(`docker import ${tarball} → ${DEBIAN_TAG}`);
  await docker(['import', '--change', 'CMD ["bash"]', '--change', `LABEL ${BUILD_KEY_LABEL}=${key}`, '--message', 'debootstrap --variant=minbase bookworm, slimmed', tarball, DEBIAN_TAG], {}, paths);
  const built = (await inspectImage(DEBIAN_TAG, paths))!;
  return { tag: DEBIAN_TAG, cached: false, seconds: (Date.now() - began) / 1000, sizeBytes: built.size, id: built.id };
}

/**
 * Content of the CA file the host's npm uses (`npm config get cafile`), or '' when npm uses
 * Node's built-in CAs.
 */
async function hostNpmCaBundle(): Promise<string> {
  const r = await execa('npm', ['config', 'get', 'cafile'], { reject: false });
  const file = String(r.stdout).trim();
  if (r.exitCode !== 0 || !file || file === 'null' || file === 'undefined' || !existsSync(file)) return '';
  return readFileSync(file, 'utf8');
}

/** Downloads pinned npm tarballs into `dir` with `npm pack` and checks their integrity. */
async function fetchNpmTarballs(tarballs: readonly NpmTarball[], dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const t of tarballs) {
    const file = join(dir, t.file);
    if (!existsSync(file)) {
      progress(`npm pack ${t.spec} (from the npm registry)`);
      await execa('npm', ['pack', t.spec, '--pack-destination', dir, '--silent'], { cwd: dir });
    }
    const [algorithm, expected] = [t.integrity.slice(0, t.integrity.indexOf('-')), t.integrity.slice(t.integrity.indexOf('-') + 1)];
    const actual = createHash(algorithm).update(readFileSync(file)).digest('base64');
    if (actual !== expected) {
      rmSync(file, { force: true });
      throw new Error(`${t.spec}: ${t.file} has ${algorithm} ${actual}, expected ${expected} (sources.json); deleted, retry to download again`);
    }
  }
}

/** Options for `buildImage`. */
export interface BuildImageOptions {
  /** Build context directory. */
  readonly context: string;
  /** Dockerfile path. @default `<context>/Dockerfile` */
  readonly dockerfile?: string;
  readonly tag: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Extra `docker build` arguments (e.g. `--no-cache`). */
  readonly extraArgs?: readonly string[];
  /** Full build log file (appended). */
  readonly logFile?: string;
  readonly paths?: EnginePaths;
}

/**
 * `DOCKER_BUILDKIT=1 /usr/bin/docker build --network host` with BuildKit step lines echoed as
 * progress (the whole log goes to `logFile`).
 * @returns seconds of wall time.
 * @throws Error with the last 60 log lines when the build fails.
 */
export async function buildImage(options: BuildImageOptions): Promise<number> {
  const paths = options.paths ?? enginePaths();
  const args = ['build', '--network', 'host', '--progress', 'plain', '--tag', options.tag];
  for (const [k, v] of Object.entries(options.labels ?? {})) args.push('--label', `${k}=${v}`);
  args.push(...(options.extraArgs ?? []), '--file', options.dockerfile ?? join(options.context, 'Dockerfile'), options.context);
  const began = Date.now();
  const lines: string[] = [];
  const sub = execa(DOCKER_CLI, args, { env: { ...process.env, ...dockerEnv(paths) }, all: true, reject: false, buffer: false });
  onLines(sub.all, (line) => {
    lines.push(line);
    if (/^#\d+ \[[^\]]+\] /.test(line)) progress(`${options.tag}: ${line.replace(/^#\d+ /, '')}`);
  });
  const result = await sub;
  if (options.logFile) {
    mkdirSync(dirname(options.logFile), { recursive: true });
    writeFileSync(options.logFile, `${lines.join('\n')}\n`, { flag: 'a' });
  }
  if (result.exitCode !== 0) {
    throw new Error(`docker build of ${options.tag} failed (exit ${result.exitCode}):\n${lines.slice(-60).join('\n')}`);
  }
  return (Date.now() - began) / 1000;
}

/**
 * Builds one stand-in image unless an image with the same build key exists.
 * @throws Error when a parent image is missing or the build fails.
 */
export async function ensureImage(spec: BaseImageSpec, paths: EnginePaths = enginePaths(), force = false): Promise<ImageResult> {
  const dir = join(IMAGES_DIR, spec.dir);
  const dockerfile = readFileSync(join(dir, 'Dockerfile'), 'utf8');
  const parentIds: string[] = [];
  for (const parent of dockerfileParents(dockerfile)) {
    const p = await inspectImage(parent, paths);
    if (!p) throw new Error(`${spec.tag}: parent image ${parent} is missing; build it first`);
    parentIds.push(`${parent}@${p.id}`);
  }
  const sourcesFile = join(dir, 'sources.json');
  const tarballs: NpmTarball[] = existsSync(sourcesFile) ? (JSON.parse(readFileSync(sourcesFile, 'utf8')) as { npmTarballs: NpmTarball[] }).npmTarballs : [];
  // The build machine's npm CA bundle (its npm `cafile`): where the npm registry is reached
  // through a TLS-inspecting egress proxy, npm inside the image must trust the same CAs.
  const npmCa = spec.npmCaBundle ? await hostNpmCaBundle() : undefined;
  const key = hashInputs(dir, [spec.tag, ...parentIds, npmCa === undefined ? '' : createHash('sha256').update(npmCa).digest('hex')]);
  const existing = await inspectImage(spec.tag, paths);
  if (existing && existing.key === key && !force) {
    return { tag: spec.tag, cached: true, seconds: 0, sizeBytes: existing.size, id: existing.id };
  }
  // Stage the context outside the repository: the image's files plus verified downloads.
  const context = join(paths.baseCache, 'contexts', spec.dir);
  rmSync(context, { recursive: true, force: true });
  mkdirSync(context, { recursive: true });
  for (const f of listFiles(dir)) {
    mkdirSync(dirname(join(context, f)), { recursive: true });
    copyFileSync(join(dir, f), join(context, f));
  }
  if (npmCa !== undefined) writeFileSync(join(context, 'npm-ca.pem'), npmCa);
  if (tarballs.length > 0) {
    const downloads = join(paths.baseCache, 'npm');
    await fetchNpmTarballs(tarballs, downloads);
    for (const t of tarballs) copyFileSync(join(downloads, t.file), join(context, t.file));
  }
  progress(`building ${spec.tag} from test/images/${spec.dir}/Dockerfile`);
  const seconds = await buildImage({
    context,
    tag: spec.tag,
    labels: { [BUILD_KEY_LABEL]: key },
    logFile: join(paths.baseCache, 'logs', `${spec.dir}.log`),
    paths,
  });
  const built = (await inspectImage(spec.tag, paths))!;
  progress(`${spec.tag} built in ${seconds.toFixed(1)} s, ${(built.size / 2 ** 20).toFixed(0)} MiB`);
  return { tag: spec.tag, cached: false, seconds, sizeBytes: built.size, id: built.id };
}

/** Options for `ensureBaseImages`. */
export interface EnsureOptions {
  /** Rebuild even when cached. @default false */
  readonly force?: boolean;
  /** Only these tags (plus `debian:bookworm-slim`). @default every BASE_IMAGES entry */
  readonly only?: readonly string[];
  readonly paths?: EnginePaths;
}

/**
 * Ensures `debian:bookworm-slim` and the stand-in images exist and are current (the engine must
 * be running). Serialized across processes by a lock in the engine directory.
 * @returns one result per image, parents first.
 */
export async function ensureBaseImages(options: EnsureOptions = {}): Promise<ImageResult[]> {
  const paths = options.paths ?? enginePaths();
  mkdirSync(paths.baseCache, { recursive: true });
  return withLock('images', async () => {
    const results = [await ensureDebianBase(paths, options.force)];
    for (const spec of BASE_IMAGES) {
      if (options.only && !options.only.includes(spec.tag)) continue;
      results.push(await ensureImage(spec, paths, options.force));
    }
    return results;
  }, { dir: paths.root, progress });
}

/** Result of `buildAppImage`. */
export interface AppImageBuild {
  readonly tag: string;
  /** Wall time of `docker build` in seconds. */
  readonly seconds: number;
  /** `docker image inspect .Size` in bytes. */
  readonly sizeBytes: number;
  readonly id: string;
}

/**
 * Builds `app/Dockerfile` unchanged with the repository root as context (its allowlist is
 * `app/Dockerfile.dockerignore`), BuildKit and `--network host`, after making sure the stand-in
 * base images exist. BuildKit's layer cache lives in the engine's data-root, so a second build
 * with unchanged inputs only re-checks the cache.
 * @param extraArgs e.g. `['--no-cache']` for a cold build.
 * @throws Error with the build log tail when the build fails.
 */
export async function buildAppImage(tag: string, extraArgs: readonly string[] = [], paths: EnginePaths = enginePaths()): Promise<AppImageBuild> {
  progress(`building ${tag} from app/Dockerfile (a cold build runs npm ci and compiles argon2: about 2 minutes)`);
  const seconds = await buildImage({
    context: REPO_ROOT,
    dockerfile: join(REPO_ROOT, 'app', 'Dockerfile'),
    tag,
    extraArgs,
    logFile: join(paths.baseCache, 'logs', 'app.log'),
    paths,
  });
  const image = (await inspectImage(tag, paths))!;
  // The previous build of this tag is now dangling: drop it (the BuildKit cache keeps its layers).
  await docker(['image', 'prune', '--force', '--filter', 'dangling=true'], { reject: false }, paths);
  progress(`${tag} built in ${seconds.toFixed(1)} s, ${(image.size / 2 ** 20).toFixed(0)} MiB`);
  return { tag, seconds, sizeBytes: image.size, id: image.id };
}
