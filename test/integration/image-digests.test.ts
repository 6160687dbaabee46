/**
 * `npm run image-digests` reads digests with the Docker Registry HTTP API: proven against a real
 * registry (Debian's docker-registry, the distribution project's server) on loopback, to which
 * this test pushes an image manifest through the same API.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitForPort } from '@expense-tracker/tools/process/ports';
import { fetchDigest } from '../../scripts/image-digests.js';

let dir: string;
let registry: ResultPromise;
let base: string;

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pushBlob(repo: string, body: Buffer): Promise<string> {
  const digest = sha256(body);
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expect(start.status).toBe(202);
  const location = new URL(start.headers.get('location')!, base);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });
  expect(put.status).toBe(201);
  return digest;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'registry-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await writeFile(
    join(dir, 'config.yml'),
    `version: 0.1\nlog: { level: error }\nstorage: { filesystem: { rootdirectory: ${dir}/data } }\nhttp: { addr: 127.0.0.1:${port} }\n`,
  );
  registry = execa('docker-registry', ['serve', join(dir, 'config.yml')], { reject: false });
  await waitForPort(port, '127.0.0.1', 20_000);
});

afterAll(async () => {
  registry?.kill('SIGTERM');
  await registry;
  await rm(dir, { recursive: true, force: true });
});

describe('fetchDigest against docker-registry', () => {
  it('returns the digest the registry assigned to a pushed manifest; an unknown tag is an error naming it', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const configDigest = await pushBlob('demo/app', config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [],
      }),
    );
    const put = await fetch(`${base}/v2/demo/app/manifests/1.0.0`, {
      method: 'PUT',
      body: manifest,
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(put.status).toBe(201);
    const assigned = put.headers.get('docker-content-digest');
    expect(assigned).toBe(sha256(manifest));

    const host = new URL(base).host;
    expect(await fetchDigest(`${host}/demo/app`, '1.0.0')).toBe(assigned);
    await expect(fetchDigest(`${host}/demo/app`, 'missing')).rejects.toThrow(/demo\/app:missing: .* answered HTTP 404/);
  });
});
