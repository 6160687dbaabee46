import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Test tiers. `npm test` runs every project; `npm run test:unit` runs only `unit`,
 * the fast inner loop (no servers, no builds).
 *
 * - unit:        pure TypeScript (charts, renderers, config, mocks).
 * - integration: real servers from Debian on loopback (PostgreSQL, Redis, HAProxy, Chromium).
 * - cluster:     a real Kubernetes control plane built from the Go module proxy.
 * - database:    Patroni, PostgreSQL, pgBackRest and an S3 server on loopback against the real
 *                control plane (HA, failover, point-in-time restore).
 * - containers:  a private Docker engine, real images and docker-compose.
 *
 * Heavy tiers run their files one at a time: the machine has 2 cores.
 */
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          setupFiles: ['test/setup/scoped-tmpdir.ts'],
          include: ['model/**/*.test.ts', 'charts/**/*.test.ts', 'monitoring/**/*.test.ts', 'haproxy/**/*.test.ts', 'stacks/**/*.test.ts', 'scripts/**/*.test.ts', 'tools/**/*.test.ts', 'testkit/**/*.test.ts', 'test/unit/**/*.test.ts', 'app/test/unit/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['app/test/**/*.test.ts', 'test/integration/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'app/test/unit/**'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 3_000_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'database',
          include: ['test/database/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 3_000_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'containers',
          include: ['test/containers/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 3_000_000,
        },
      },
    ],
  },
});
