/** TCP ports on loopback: a free one to listen on, and waiting until something listens. */
import net from 'node:net';
import { waitUntil } from './wait.js';

/**
 * Asks the kernel for a free TCP port on `host` (bind to port 0, read it, close).
 * Another process could take it before the caller binds; callers start their server right after.
 * @throws Error when nothing can be bound on `host`.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error(`no free port on ${host}`))));
    });
  });
}

/** Resolves true when a TCP connect to `host:port` succeeds within `timeoutMs` (default 1000). */
export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Resolves once a TCP connect to `host:port` succeeds.
 * @throws TimeoutError after `timeoutMs` milliseconds (default 10 000).
 */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<void> {
  await waitUntil(`a listener on ${host}:${port}`, () => portOpen(port, host), { timeoutMs, intervalMs: 50 });
}
