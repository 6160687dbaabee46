import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DIGEST_SOURCES, PINNED_IMAGES } from '@expense-tracker/model/images';
import { fetchDigest, IMAGES_SOURCE, registryLocation, replaceRecordedDigest } from './image-digests.js';

const manifest = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;

/** A registry that wants a Bearer token (as Docker Hub does) and records what it was asked. */
function fakeHub() {
  const calls: string[] = [];
  const impl = (async (input: string | URL, init?: RequestInit) => {
    const url = String(input);
    const auth = new Headers(init?.headers).get('authorization');
    calls.push(`${url}${auth ? ` [${auth}]` : ''}`);
    if (url.startsWith('https://auth.example/token')) return Response.json({ token: 'T0K' });
    if (auth !== 'Bearer T0K') {
      return new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/postgres:pull"' } });
    }
    return new Response(manifest, { headers: { 'docker-content-digest': digest } });
  }) as typeof fetch;
  return { impl, calls };
}

describe('image-digests', () => {
  it('maps short names to Docker Hub library paths and keeps other registries', () => {
    expect(registryLocation('postgres')).toEqual({ registry: 'registry-1.docker.io', path: 'library/postgres' });
    expect(registryLocation('bitnami/redis')).toEqual({ registry: 'registry-1.docker.io', path: 'bitnami/redis' });
    expect(registryLocation('us.icr.io/ns/app')).toEqual({ registry: 'us.icr.io', path: 'ns/app' });
    expect(registryLocation('localhost:5000/app')).toEqual({ registry: 'localhost:5000', path: 'app' });
  });

  it('follows the Bearer token flow and verifies the served bytes', async () => {
    const hub = fakeHub();
    expect(await fetchDigest('postgres', '15.10-bookworm', hub.impl)).toBe(digest);
    expect(hub.calls).toEqual([
      'https://registry-1.docker.io/v2/library/postgres/manifests/15.10-bookworm',
      'https://auth.example/token?service=registry.example&scope=repository%3Alibrary%2Fpostgres%3Apull',
      'https://registry-1.docker.io/v2/library/postgres/manifests/15.10-bookworm [Bearer T0K]',
    ]);
  });

  it('refuses a manifest whose bytes do not match the claimed digest', async () => {
    const liar = (async () => new Response(manifest, { headers: { 'docker-content-digest': `sha256:${'0'.repeat(64)}` } })) as unknown as typeof fetch;
    await expect(fetchDigest('localhost:5000/app', '1', liar)).rejects.toThrow(/hashes to sha256:[0-9a-f]{64}, registry claims sha256:0{64}/);
  });

  it('rewrites exactly the recorded digest of one image in model/images.ts', () => {
    const source = readFileSync(IMAGES_SOURCE, 'utf8');
    const updated = replaceRecordedDigest(source, 'redis', digest);
    expect(updated).toContain(`redis: { repository: 'redis', tag: '${PINNED_IMAGES.redis.tag}', digest: '${digest}' }`);
    expect(updated).toContain(PINNED_IMAGES.postgres.digest);
    expect(updated.length).toBe(source.length);
    expect(() => replaceRecordedDigest(source, 'node', digest)).toThrow(/found 0/);
  });

  it('records a source for every digest', () => {
    const pinned = Object.entries(PINNED_IMAGES).filter(([, ref]) => 'digest' in ref).map(([name]) => name);
    expect(Object.keys(DIGEST_SOURCES).sort()).toEqual(pinned.sort());
  });
});
