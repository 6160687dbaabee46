/**
 * Request throttling with rate-limiter-flexible: counters in Redis shared by every replica, each
 * backed by an in-memory "insurance" limiter of the same size that takes over per replica while
 * Redis is unreachable (so throttling degrades, never disappears and never fails a request).
 *
 * Login follows OWASP's "device cookies" scheme, which stops both guessing and lockout abuse:
 * - failures from one client address across all accounts are limited (`loginPerAddress`): a
 *   password spray from one address stops quickly;
 * - failures for one account from one address are limited (`loginPerAccountAddress`) and reset by
 *   a successful login;
 * - failures for one account from every client that has never logged in to it are limited
 *   (`loginPerAccount`): a distributed guess at one account stops too;
 * - a browser that has logged in to an account before carries a signed device cookie listing it;
 *   for that account it skips the three limits above and has its own (`loginPerAccountDevice`),
 *   which nobody else can spend. A stranger exhausting an account's limits therefore locks out
 *   only other strangers, never the owner on their own browser (and a password reset clears them).
 * Limits are keyed on the submitted email whether or not an account exists, so a 429 reveals
 * nothing about which emails are registered.
 */
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import type { Metrics } from './metrics.js';

/** A limit: `points` events per `seconds`-long window. */
export interface Limit {
  points: number;
  seconds: number;
}

export const DEFAULT_LIMITS = {
  loginPerAddress: { points: 50, seconds: 3600 },
  loginPerAccountAddress: { points: 5, seconds: 900 },
  loginPerAccount: { points: 20, seconds: 3600 },
  loginPerAccountDevice: { points: 10, seconds: 900 },
  registerPerAddress: { points: 5, seconds: 3600 },
  resetPerAddress: { points: 10, seconds: 3600 },
  resetPerAccount: { points: 3, seconds: 3600 },
  verifyPerAccount: { points: 3, seconds: 3600 },
} satisfies Record<string, Limit>;

export type LimitName = keyof typeof DEFAULT_LIMITS;

/** Who is trying to log in: the client address, the submitted email and, if any, a device cookie trusted for that account. */
export interface LoginKeys {
  address: string;
  account: string;
  trustedDevice?: string | undefined;
}

export class Throttle {
  private readonly limiters = new Map<LimitName, RateLimiterRedis>();

  constructor(redis: Redis, private readonly metrics: Metrics, limits: Partial<Record<LimitName, Limit>> = {}) {
    for (const name of Object.keys(DEFAULT_LIMITS) as LimitName[]) {
      const { points, seconds } = limits[name] ?? DEFAULT_LIMITS[name];
      const keyPrefix = `throttle:${name}`;
      this.limiters.set(
        name,
        new RateLimiterRedis({
          storeClient: redis,
          keyPrefix,
          points,
          duration: seconds,
          rejectIfRedisNotReady: true,
          insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration: seconds }),
        }),
      );
    }
  }

  private limiter(name: LimitName): RateLimiterRedis {
    return this.limiters.get(name)!;
  }

  private loginLimits(k: LoginKeys): [LimitName, string][] {
    if (k.trustedDevice) return [['loginPerAccountDevice', `${k.account}:${k.trustedDevice}`]];
    return [
      ['loginPerAddress', k.address],
      ['loginPerAccountAddress', `${k.account}:${k.address}`],
      ['loginPerAccount', k.account],
    ];
  }

  /** Milliseconds until this login may be tried, or 0 when no limit is exhausted. */
  async loginWait(k: LoginKeys): Promise<number> {
    let wait = 0;
    for (const [name, key] of this.loginLimits(k)) {
      const res = await this.limiter(name).get(key);
      if (res && res.consumedPoints >= this.limiter(name).points) {
        wait = Math.max(wait, res.msBeforeNext);
        this.metrics.throttled.inc({ limiter: name });
      }
    }
    return wait;
  }

  /** Counts a failed login against every limit that applies to it. */
  async loginFailed(k: LoginKeys): Promise<void> {
    await Promise.all(this.loginLimits(k).map(([name, key]) => this.limiter(name).penalty(key)));
  }

  /** A successful login clears the per-account-and-client counter it was tried under. */
  async loginSucceeded(k: LoginKeys): Promise<void> {
    const [name, key] = k.trustedDevice ? (['loginPerAccountDevice', `${k.account}:${k.trustedDevice}`] as const) : (['loginPerAccountAddress', `${k.account}:${k.address}`] as const);
    await this.limiter(name).delete(key);
  }

  /** A password reset proves the owner: every login limit of the account starts afresh. */
  async clearAccount(account: string, address: string): Promise<void> {
    await Promise.all([this.limiter('loginPerAccount').delete(account), this.limiter('loginPerAccountAddress').delete(`${account}:${address}`)]);
  }

  /**
   * Counts one event against limit `name` for `key`. Returns 0 when allowed, else the milliseconds
   * until the window frees a point (the event is refused and should be answered with 429).
   */
  async take(name: LimitName, key: string): Promise<number> {
    try {
      await this.limiter(name).consume(key);
      return 0;
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      this.metrics.throttled.inc({ limiter: name });
      return res.msBeforeNext;
    }
  }
}

/** A 429 whose message says when to retry; `Retry-After` (seconds) is set by the error handlers. */
export class TooManyRequestsError extends Error {
  readonly statusCode = 429;
  readonly retryAfterSeconds: number;
  constructor(waitMs: number, what: string) {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    const minutes = Math.ceil(seconds / 60);
    super(`${what} Try again in ${seconds < 120 ? `${seconds} seconds` : `${minutes} minutes`}.`);
    this.retryAfterSeconds = seconds;
    this.name = 'TooManyRequestsError';
  }
}
