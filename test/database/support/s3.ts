/**
 * A real S3-compatible object store on loopback for the pgBackRest repository: moto's
 * standalone server (PyPI `moto[server]`) behind HAProxy terminating TLS.
 *
 * pgBackRest speaks S3 over HTTPS only and verifies the server certificate against a host
 * name (it does not match IP subject alternative names), so the store is addressed as
 * `localhost` with a certificate from a throwaway CA. HAProxy sits in front because moto's
 * development server closes TLS connections without a close_notify, which pgBackRest (OpenSSL 3)
 * reports as "unexpected eof while reading"; HAProxy keeps proper TLS sessions and forwards
 * plain HTTP to moto on another loopback port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { freePort, waitForPort } from '@expense-tracker/tools/process/ports';
import { ensureMotoServer } from './python-tools.js';

export interface S3Server {
  /** Host name to put in `repo1-s3-endpoint` (`localhost`). */
  readonly endpoint: string;
  /** HTTPS port on 127.0.0.1. */
  readonly port: number;
  /** PEM file of the CA that signed the server certificate (world-readable). */
  readonly caFile: string;
  readonly region: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** Creates a bucket (moto accepts any credentials). */
  createBucket(name: string): Promise<void>;
  /** Stops HAProxy and moto and removes the temp directory. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILLs HAProxy and moto at once, without waiting: for `process.on('exit')` handlers. */
  killNow(): void;
}

const HAPROXY = process.env.HAPROXY ?? '/usr/sbin/haproxy';

async function openssl(args: string[], cwd: string): Promise<void> {
  await execa('openssl', args, { cwd });
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts moto and HAProxy on free loopback ports.
 * @throws Error when either server does not come up within 30 s.
 */
export async function startS3Server(): Promise<S3Server> {
  const motoServer = await ensureMotoServer();
  const dir = mkdtempSync(join(tmpdir(), 's3-test-'));
  chmodSync(dir, 0o755);
  let moto: ChildProcess | undefined;
  let haproxy: ChildProcess | undefined;
  let port = 0;
  const stop = async () => {
    await stopChild(haproxy);
    await stopChild(moto);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=expense-tracker test S3 CA'], dir);
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 's3.key', '-out', 's3.csr', '-subj', '/CN=localhost'], dir);
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    await openssl(['x509', '-req', '-in', 's3.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 's3.crt', '-days', '2', '-extfile', 'san.ext'], dir);
    writeFileSync(join(dir, 's3.pem'), readFileSync(join(dir, 's3.crt'), 'utf8') + readFileSync(join(dir, 's3.key'), 'utf8'), { mode: 0o600 });
    chmodSync(join(dir, 'ca.crt'), 0o644);

    const motoPort = await freePort();
    // Logs go to files: an unread pipe fills up and blocks the server (werkzeug logs every request).
    const motoLog = openSync(join(dir, 'moto.log'), 'a');
    moto = spawn(motoServer, ['-H', '127.0.0.1', '-p', String(motoPort)], { stdio: ['ignore', motoLog, motoLog] });
    closeSync(motoLog);
    await waitForPort(motoPort, '127.0.0.1', 30_000);

    port = await freePort();
    const cfg = [
      'global',
      '    log stderr format raw local0 warning',
      'defaults',
      '    mode http',
      '    log global',
      '    timeout connect 5s',
      '    timeout client 120s',
      '    timeout server 120s',
      'frontend s3',
      `    bind 127.0.0.1:${port} ssl crt ${join(dir, 's3.pem')}`,
      '    default_backend moto',
      'backend moto',
      `    server moto 127.0.0.1:${motoPort}`,
      '',
    ].join('\n');
    writeFileSync(join(dir, 'haproxy.cfg'), cfg);
    const haproxyLog = openSync(join(dir, 'haproxy.log'), 'a');
    haproxy = spawn(HAPROXY, ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', haproxyLog, haproxyLog] });
    closeSync(haproxyLog);
    await waitForPort(port, '127.0.0.1', 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  const server: S3Server = {
    endpoint: 'localhost',
    port,
    caFile: join(dir, 'ca.crt'),
    region: 'us-east-1',
    accessKey: 'expense-tracker-test',
    secretKey: 'expense-tracker-test-secret',
    async createBucket(name: string) {
      // A plain S3 CreateBucket call through the TLS front, as any client would make it.
      await execa('curl', ['--fail', '--silent', '--show-error', '--cacert', join(dir, 'ca.crt'), '-X', 'PUT', `https://localhost:${server.port}/${name}`]);
    },
    stop,
    killNow() {
      for (const child of [haproxy, moto]) if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
  return server;
}
