/**
 * The Redis client (ioredis). Configured to fail fast instead of queueing while Redis is down:
 * `enableOfflineQueue: false` makes a command fail at once when the connection is not up, and
 * `commandTimeout` bounds a hung server, so callers fall back at once (uncached reads, in-memory
 * throttling).
 * ioredis keeps reconnecting in the background (`retryStrategy`), so the app recovers by itself.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';

/** Creates the client without connecting; call {@link connectRedis}. */
export function createRedis(cfg: Config['redis'], log: Logger): Redis {
  const redis = new Redis(cfg.url, {
    password: cfg.password,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1_000,
    connectTimeout: 2_000,
    // Reconnect forever, backing off to one attempt per second (milliseconds).
    retryStrategy: (times) => Math.min(times * 100, 1_000),
  });
  let up = false;
  redis.on('ready', () => {
    if (!up) log.info('redis connection ready');
    up = true;
  });
  redis.on('error', (err: Error) => {
    // Logged once per outage, not once per reconnect attempt.
    if (up) log.warn({ err: err.message }, 'redis unavailable; serving without the cache, throttling per replica');
    up = false;
  });
  redis.on('end', () => {
    up = false;
  });
  return redis;
}

/**
 * Starts connecting. Resolves when connected, or after `waitMs` milliseconds (default 2000) with
 * Redis still down: the app starts anyway and keeps retrying (sessions/cache degrade meanwhile).
 */
export async function connectRedis(redis: Redis, log: Logger, waitMs = 2_000): Promise<void> {
  const connecting = redis.connect().catch((err: Error) => {
    log.warn({ err: err.message }, 'redis not reachable at start; retrying in the background');
  });
  await Promise.race([connecting, new Promise((r) => setTimeout(r, waitMs).unref())]);
}

