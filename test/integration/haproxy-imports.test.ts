/**
 * The import path's HAProxy settings on a real HAProxy 2.6 (Debian) on loopback, rendered from the
 * model for the `local` target in front of a stub app: a `Content-Length` above `imports.maxBytes`
 * is refused with 413 before any byte reaches a server; an upload the server answers only after
 * longer than the defaults' `timeout server` still succeeds on the import path, while the same
 * delay on another API path ends in 504; the body limit applies to the import path only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMPORT_PATH_PREFIX, READY_PATH } from '@expense-tracker/model/app-contract';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { freePort, waitForPort } from '@expense-tracker/tools/process/ports';
import { renderHaproxyConfig } from '../../charts/haproxy-config.js';

const MiB = 2 ** 20;
/** The stub answers this long after the body's last byte: more than `timeout server` (1 s), less than the upload timeout. */
const SLOW_MS = 2_500;

let dir: string;
let haproxy: ChildProcess;
let stub: http.Server;
let port: number;
/** Requests the stub saw (method, path, body bytes). */
const seen: { method: string; path: string; bytes: number }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'haproxy-imports-'));
  stub = http.createServer((req, res) => {
    if (req.url === READY_PATH) return void res.end('ok');
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      seen.push({ method: req.method!, path: req.url!, bytes });
      setTimeout(() => {
        res.writeHead(req.url!.startsWith(IMPORT_PATH_PREFIX) ? 202 : 201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ bytes }));
      }, SLOW_MS);
    });
  });
  const appPort = await freePort();
  stub.listen(appPort, '127.0.0.1');
  await once(stub, 'listening');
  port = await freePort();
  const env = loadEnvironment('local', {
    imageTag: '1',
    set: ['imports.maxBytes=1Mi', 'imports.uploadTimeoutSeconds=60', 'haproxy.timeouts.serverSeconds=1', 'imports.staging.storage=2Gi'],
  });
  const cfg = renderHaproxyConfig(env, {
    kind: 'local',
    instances: [{ port: appPort }],
    port,
    statsPort: await freePort(),
    statsSocket: join(dir, 'admin.sock'),
    healthCheck: { intervalSeconds: 1 },
  });
  await writeFile(join(dir, 'haproxy.cfg'), cfg);
  haproxy = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, '127.0.0.1', 15_000);
  // Wait until the health checks have the stub UP in every backend.
  await new Promise((r) => setTimeout(r, 2_500));
}, 60_000);

afterAll(async () => {
  if (haproxy && haproxy.exitCode === null) {
    haproxy.kill('SIGTERM');
    await once(haproxy, 'exit');
  }
  stub?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function post(path: string, bytes: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: Buffer.alloc(bytes, 'a') });
  return { status: res.status, body: await res.text() };
}

describe('HAProxy on the import path', () => {
  // 2^32 + 1 wraps to 1 in a 32-bit reading of Content-Length: the limit must compare 64-bit values.
  it.each([2 * MiB, 2 ** 32 + 1])('refuses a body above imports.maxBytes with 413 before it reaches a server (Content-Length %d)', async (length) => {
    const before = seen.length;
    // Only the headers are sent: the answer must come from them alone.
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `${IMPORT_PATH_PREFIX}?name=big.csv`, headers: { 'content-type': 'text/csv', 'content-length': length } });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
        req.destroy();
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(status).toBe(413);
    expect(seen.length).toBe(before);
  });

  it('waits for an upload answered after the default server timeout, on the import path only', async () => {
    const ok = await post(`${IMPORT_PATH_PREFIX}?name=s.csv`, MiB);
    expect(ok).toEqual({ status: 202, body: JSON.stringify({ bytes: MiB }) });
    expect((await post('/api/expenses', 100)).status).toBe(504);
  });

  it('leaves the body size of other paths alone', async () => {
    const before = seen.length;
    await post('/api/expenses', 2 * MiB);
    // The stub read the whole body (HAProxy then gave up waiting for its slow answer).
    expect(seen.slice(before)).toEqual([{ method: 'POST', path: '/api/expenses', bytes: 2 * MiB }]);
  });
});
