import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Test tiers. `npm test` runs every project; `npm run test:unit` runs only `unit`,
 * the fast inner loop (no servers, no builds).
 *
 * - unit:        pure TypeScript (charts, renderers, config, mocks).
 * - integration: real servers from Debian on loopback (PostgreSQL, Redis, HAProxy, Chromium).
 * - containers:  a private Docker engine, real images and docker-compose.
 * - database:    Patroni, PostgreSQL, pgBackRest and an S3 server on loopback against the real
 *                control plane (HA, failover, point-in-time restore).
 * - cluster:     the real-node test cluster (control plane, node and add-ons built from the Go
 *                module proxy).
 * - pulumi:      `pulumi up` on the real-node test cluster with the Pulumi CLI and provider built
 *                from the Go module proxy.
 *
 * Heavy tiers run their files one at a time: the machine has 2 cores. They run in the order
 * above (`sequence.groupOrder`): the tiers that need Go-built binaries last, so that on a cold
 * cache CI's background builds (.ci/background.d) overlap the tiers that need none of them, and
 * a tier arriving early waits on the binary's build lock.
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
          sequence: { groupOrder: 1 },
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
          name: 'containers',
          sequence: { groupOrder: 2 },
          include: ['test/containers/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 3_000_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'database',
          sequence: { groupOrder: 3 },
          include: ['test/database/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 3_000_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          sequence: { groupOrder: 4 },
          include: ['test/cluster/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/cluster/pulumi.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 3_000_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'pulumi',
          sequence: { groupOrder: 5 },
          include: ['test/cluster/pulumi.test.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 3_000_000,
        },
      },
    ],
  },
});
