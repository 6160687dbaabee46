import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { daemonConfig, dockerEnv, enginePaths } from './engine.js';
import { BASE_IMAGES, dockerfileParents, hashInputs } from './images.js';
import { formatImageReference } from '@expense-tracker/model/images';

const scratch = mkdtempSync(join(tmpdir(), 'docker-engine-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('private engine configuration', () => {
  const paths = enginePaths('/var/cache/etk/docker');

  it('never touches the host firewall or default bridge, and keeps everything under its directory', () => {
    const cfg = daemonConfig(paths);
    expect(cfg).toMatchObject({ iptables: false, ip6tables: false, 'ip-forward': false, 'ip-masq': false, bridge: 'none', 'storage-driver': 'overlay2' });
    expect(cfg.hosts).toEqual(['unix:///var/cache/etk/docker/docker.sock']);
    for (const key of ['data-root', 'exec-root', 'pidfile'] as const) expect(String(cfg[key])).toMatch(/^\/var\/cache\/etk\/docker\//);
    // The machine's hard limits (no CAP_SYS_RESOURCE): higher defaults would fail every container start.
    expect(cfg['default-ulimits']).toEqual({ nofile: { Name: 'nofile', Soft: 20000, Hard: 20000 }, nproc: { Name: 'nproc', Soft: 32768, Hard: 32768 } });
    expect(dockerEnv(paths).DOCKER_HOST).toBe('unix:///var/cache/etk/docker/docker.sock');
  });

  it('refuses a directory whose socket path exceeds the Unix socket limit, naming the variable', () => {
    expect(() => enginePaths(`/tmp/${'x'.repeat(120)}`)).toThrow(/EXPENSE_DOCKER_DIR: .*107-byte/);
  });
});

describe('stand-in images', () => {
  it('tag exactly the images the local environment deploys', () => {
    const env = loadEnvironment('local');
    const tags = BASE_IMAGES.map((b) => b.tag);
    for (const image of [env.postgres.image, env.redis.image, env.haproxy.image]) expect(tags).toContain(formatImageReference(image));
  });

  it('finds the parent images of every stage, not stage aliases', () => {
    const dockerfile = ['FROM node:20.18.1-bookworm-slim AS deps', 'RUN true', 'from --platform=linux/amd64 debian:bookworm-slim as build', 'FROM deps', 'COPY --from=build /x /x', 'FROM scratch'].join('\n');
    expect(dockerfileParents(dockerfile)).toEqual(['node:20.18.1-bookworm-slim', 'debian:bookworm-slim']);
  });

  it('keys a build on every file, its mode and the extra inputs', () => {
    const dir = mkdtempSync(join(scratch, 'ctx-'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM debian:bookworm-slim\n');
    const a = hashInputs(dir, ['parent@sha256:1']);
    expect(hashInputs(dir, ['parent@sha256:1'])).toBe(a);
    expect(hashInputs(dir, ['parent@sha256:2'])).not.toBe(a);
    writeFileSync(join(dir, 'entrypoint.sh'), '#!/bin/sh\n', { mode: 0o644 });
    const b = hashInputs(dir, ['parent@sha256:1']);
    expect(b).not.toBe(a);
    writeFileSync(join(dir, 'entrypoint.sh'), '#!/bin/sh\n', { mode: 0o755 });
    rmSync(join(dir, 'entrypoint.sh'));
    writeFileSync(join(dir, 'entrypoint.sh'), '#!/bin/sh\n', { mode: 0o755 });
    expect(hashInputs(dir, ['parent@sha256:1'])).not.toBe(b);
  });
});
