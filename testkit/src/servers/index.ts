/** Launchers for real servers on loopback, shared by integration tests and benchmarks. */
export { startPostgres, type PostgresServer } from './postgres.js';
export { startRedis, type RedisServer } from './redis.js';
export { freePort, waitForPort } from '@expense-tracker/tools/process/index';
