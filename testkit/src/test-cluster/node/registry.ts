/**
 * The image registry of real-node clusters: Debian's `docker-registry` (distribution 2.8) with
 * filesystem storage shared by every cluster in `<cache>/registry`. Each running cluster serves
 * it on its host veth address (containerd in the node's namespace pulls through its hosts.toml
 * mirror); `images` pushes through a short-lived instance on 127.0.0.1 (Docker treats 127.0.0.0/8
 * registries as insecure without configuration), serialized by the `registry-push` lock.
 *
 * Repository layout, so the synthesized manifests run unchanged:
 * `docker.io/library/postgres:15.10-bookworm` -> `library/postgres:15.10-bookworm`,
 * `localhost:5000/expense-tracker:0.1.0` -> `expense-tracker:0.1.0`,
 * `us.icr.io/expense-tracker/expense-tracker:0.1.0` -> `expense-tracker/expense-tracker:0.1.0`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot, freePort, launchDetached, stopProcesses, waitUntil, type ProcessRecord } from '@expense-tracker/tools/process/index';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';
export const registryStorage = (): string => join(cacheRoot(), 'registry');

/**
 * The repository path an image reference is served under by the mirror (see module docs).
 * @throws Error for a reference without a tag.
 */
export function mirrorRepository(reference: string): { repository: string; tag: string } {
  const at = reference.lastIndexOf(':');
  if (at < 0 || reference.slice(at).includes('/')) throw new Error(`image reference "${reference}" has no tag`);
  const name = reference.slice(0, at);
  const tag = reference.slice(at + 1);
  const parts = name.split('/');
  const hasRegistry = parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost');
  const path = hasRegistry ? parts.slice(1) : parts;
  if (!hasRegistry && path.length === 1) path.unshift('library');
  if (hasRegistry && parts[0] === 'docker.io' && path.length === 1) path.unshift('library');
  return { repository: path.join('/'), tag };
}

/** distribution's configuration (YAML) for a registry on `addr` with the shared storage. */
export function registryConfig(addr: string, storage: string): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${addr}`,
    '',
  ].join('\n');
}

/**
 * Starts a registry on `host:port` serving the shared storage; resolves once `/v2/` answers.
 * @throws Error with the log tail when it exits or does not answer within 30 s.
 */
export async function startRegistry(dir: string, name: string, host: string, port: number): Promise<ProcessRecord> {
  mkdirSync(registryStorage(), { recursive: true });
  const config = join(dir, `${name}.yml`);
  writeFileSync(config, registryConfig(`${host}:${port}`, registryStorage()));
  const record = launchDetached({ name, binary: DOCKER_REGISTRY, args: ['serve', config], log: join(dir, `${name}.log`), cwd: dir });
  await waitUntil(`${name} on ${host}:${port}`, async () => (await fetch(`http://${host}:${port}/v2/`, { signal: AbortSignal.timeout(2000) })).ok, { timeoutMs: 30_000, intervalMs: 100 });
  return record;
}

/** Manifest media types a pushed image may have (Docker 20.10 pushes schema 2; OCI for completeness). */
const MANIFEST_TYPES = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json';

/** True when the registry at `url` (`http://host:port`) has `repository:tag`. */
export async function hasImage(url: string, repository: string, tag: string): Promise<boolean> {
  const res = await fetch(`${url}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: MANIFEST_TYPES },
    signal: AbortSignal.timeout(5000),
  });
  return res.ok;
}

/**
 * The content digest (`sha256:…`) of the manifest the registry at `url` serves for `reference`
 * (its `Docker-Content-Digest`): what a pull by digest of the pushed image must name.
 * @throws Error when the registry does not have the reference.
 */
export async function manifestDigest(url: string, reference: string): Promise<string> {
  const { repository, tag } = mirrorRepository(reference);
  const res = await fetch(`${url}/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST_TYPES }, signal: AbortSignal.timeout(5000) });
  const digest = res.headers.get('docker-content-digest');
  if (!res.ok || !digest) throw new Error(`registry ${url} has no manifest for ${reference} (HTTP ${res.status})`);
  return digest;
}

/** A short-lived registry on 127.0.0.1 for pushing (see module docs). */
export async function withPushRegistry<T>(workDir: string, fn: (hostPort: string) => Promise<T>): Promise<T> {
  const port = await freePort();
  const record = await startRegistry(workDir, 'push-registry', '127.0.0.1', port);
  try {
    return await fn(`127.0.0.1:${port}`);
  } finally {
    await stopProcesses([record], 5000);
  }
}
