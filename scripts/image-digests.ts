/**
 * `npm run image-digests [-- --write]`
 *
 * Asks each image's registry (Docker Registry HTTP API v2, the protocol of Docker Hub and every
 * OCI registry) for the current digest of every tag in model/images.ts `PINNED_IMAGES` that is
 * pinned by digest, and prints `name:tag recorded → registry` per image. With `--write` it
 * replaces the recorded digests in model/images.ts; review the diff (and update DIGEST_SOURCES)
 * before committing. Needs network access to the registries; exit 1 when one cannot be asked.
 *
 * The digest is that of the manifest the registry serves for the tag, multi-platform index
 * preferred (what `docker buildx imagetools inspect` and `crane digest` print), verified by
 * hashing the served bytes.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PINNED_IMAGES } from '@expense-tracker/model/images';
import { type CommandIO, consoleIO } from './lib/command-io.js';

/** model/images.ts, where the digests are recorded. */
export const IMAGES_SOURCE = fileURLToPath(new URL('../model/images.ts', import.meta.url));

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Registry host and repository path of a reference's repository (Docker Hub rules for short names). */
export function registryLocation(repository: string): { registry: string; path: string } {
  const first = repository.split('/')[0];
  const hasHost = repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasHost) return { registry: 'registry-1.docker.io', path: repository.includes('/') ? repository : `library/${repository}` };
  return { registry: first, path: repository.slice(first.length + 1) };
}

/** Plain HTTP for registries on the local machine (as docker does), HTTPS everywhere else. */
function baseUrl(registry: string): string {
  const local = /^(localhost|127\.[0-9.]+|\[::1\])(:[0-9]+)?$/.test(registry);
  return `${local ? 'http' : 'https'}://${registry}`;
}

/** Parses `Bearer realm="…",service="…",scope="…"`. */
function bearerChallenge(header: string): Record<string, string> | undefined {
  if (!/^Bearer\s/i.test(header)) return undefined;
  return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

/**
 * Digest of the manifest a registry serves for `repository:tag`, following the registry token
 * flow (anonymous pull token) when the registry asks for one.
 * @throws Error naming the reference and the HTTP status when the registry refuses or the served
 *   bytes do not hash to the digest it claims.
 */
export async function fetchDigest(repository: string, tag: string, fetchImpl: typeof fetch = fetch): Promise<string> {
  const { registry, path } = registryLocation(repository);
  const url = `${baseUrl(registry)}/v2/${path}/manifests/${encodeURIComponent(tag)}`;
  let res = await fetchImpl(url, { headers: { accept: ACCEPT } });
  if (res.status === 401) {
    const challenge = bearerChallenge(res.headers.get('www-authenticate') ?? '');
    if (!challenge?.realm) throw new Error(`${repository}:${tag}: ${registry} answered 401 without a Bearer challenge`);
    const tokenUrl = new URL(challenge.realm);
    if (challenge.service) tokenUrl.searchParams.set('service', challenge.service);
    tokenUrl.searchParams.set('scope', challenge.scope ?? `repository:${path}:pull`);
    const tokenRes = await fetchImpl(tokenUrl, {});
    if (!tokenRes.ok) throw new Error(`${repository}:${tag}: token request to ${tokenUrl.host} failed with HTTP ${tokenRes.status}`);
    const body = (await tokenRes.json()) as { token?: string; access_token?: string };
    res = await fetchImpl(url, { headers: { accept: ACCEPT, authorization: `Bearer ${body.token ?? body.access_token}` } });
  }
  if (!res.ok) throw new Error(`${repository}:${tag}: ${registry} answered HTTP ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  const computed = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const claimed = res.headers.get('docker-content-digest');
  if (claimed && claimed !== computed) throw new Error(`${repository}:${tag}: served manifest hashes to ${computed}, registry claims ${claimed}`);
  return computed;
}

/**
 * Replaces the recorded digest of one `PINNED_IMAGES` entry in the source text of model/images.ts.
 * @throws Error when the entry's line is not found exactly once.
 */
export function replaceRecordedDigest(source: string, name: string, digest: string): string {
  const line = new RegExp(`^(\\s*${name}: \\{[^\\n]*digest: ')(sha256:[0-9a-f]{64})(')`, 'm');
  const matches = source.match(new RegExp(line.source, 'gm')) ?? [];
  if (matches.length !== 1) throw new Error(`model/images.ts: expected one "${name}: { … digest: '…' }" line, found ${matches.length}`);
  return source.replace(line, `$1${digest}$3`);
}

/** @returns 0 when every digest could be read, 1 otherwise, 2 for bad flags. */
export async function imageDigestsCommand(argv: readonly string[], io: CommandIO = consoleIO, fetchImpl: typeof fetch = fetch): Promise<number> {
  const write = argv.includes('--write');
  if (argv.some((a) => a !== '--write')) {
    io.error('usage: npm run image-digests [-- --write]');
    return 2;
  }
  let source = readFileSync(IMAGES_SOURCE, 'utf8');
  let failed = 0;
  let changed = 0;
  for (const [name, ref] of Object.entries(PINNED_IMAGES)) {
    if (!('digest' in ref)) continue;
    try {
      const current = await fetchDigest(ref.repository, ref.tag, fetchImpl);
      const same = current === ref.digest;
      io.log(`${ref.repository}:${ref.tag} ${ref.digest} ${same ? '= registry' : `→ ${current}`}`);
      if (!same) {
        changed++;
        source = replaceRecordedDigest(source, name, current);
      }
    } catch (error) {
      failed++;
      io.error(`image-digests: ${(error as Error).message}`);
    }
  }
  if (write && changed > 0 && failed === 0) {
    writeFileSync(IMAGES_SOURCE, source);
    io.log(`image-digests: ${changed} digest(s) updated in ${IMAGES_SOURCE}; record where they came from in DIGEST_SOURCES`);
  }
  return failed > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await imageDigestsCommand(process.argv.slice(2));
