/**
 * Server-side sessions in Redis. The cookie holds only a random session id (256 bits, signed with
 * SESSION_SECRET by @fastify/cookie); Redis holds `sess:<id>` -> `{"userId": ...}` with a sliding
 * TTL. When Redis is unreachable:
 * - sessions this process validated against Redis within the last {@link OUTAGE_GRACE_MS} keep
 *   working from a bounded in-memory map, so logged-in users keep being served during a short
 *   outage (a trade-off: a logout during the outage is only seen by this replica);
 * - any other session cookie reports `unavailable` (pages that need a login answer 503, public
 *   pages keep working), and creating a session throws {@link SessionsUnavailableError}, so new
 *   logins get a clear 503.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Session lifetime, sliding: seconds since the last request. */
export const SESSION_TTL_SECONDS = 7 * 24 * 3600;
export const SESSION_COOKIE = 'sid';

export class SessionsUnavailableError extends Error {
  readonly statusCode = 503;
  constructor(cause: unknown) {
    super('Sign-in is temporarily unavailable (session store unreachable). Please try again in a minute.', { cause });
    this.name = 'SessionsUnavailableError';
  }
}

export type SessionLookup =
  | { state: 'none' }
  | { state: 'unavailable' }
  | { state: 'ok'; sessionId: string; userId: string };

/** Milliseconds a session validated against Redis stays usable while Redis is unreachable. */
export const OUTAGE_GRACE_MS = 15 * 60_000;
/** Bound of the in-memory fallback map (oldest entries are evicted first). */
const RECENT_MAX = 10_000;

const key = (id: string) => `sess:${id}`;

export class SessionStore {
  /** sessionId -> userId and when Redis last confirmed it (ms since epoch); insertion-ordered. */
  private readonly recent = new Map<string, { userId: string; at: number }>();

  constructor(private readonly redis: Redis) {}

  private remember(id: string, userId: string) {
    this.recent.delete(id);
    this.recent.set(id, { userId, at: Date.now() });
    if (this.recent.size > RECENT_MAX) this.recent.delete(this.recent.keys().next().value!);
  }

  /** Creates a session for `userId` and returns its id. @throws SessionsUnavailableError */
  async create(userId: string): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    try {
      await this.redis.set(key(id), JSON.stringify({ userId, createdAt: new Date().toISOString() }), 'EX', SESSION_TTL_SECONDS);
    } catch (err) {
      throw new SessionsUnavailableError(err);
    }
    this.remember(id, userId);
    return id;
  }

  /** Looks a session id up and slides its TTL. */
  async load(id: string): Promise<SessionLookup> {
    try {
      const raw = await this.redis.getex(key(id), 'EX', SESSION_TTL_SECONDS);
      const data = raw ? (JSON.parse(raw) as { userId?: unknown }) : {};
      if (typeof data.userId !== 'string') {
        this.recent.delete(id);
        return { state: 'none' };
      }
      this.remember(id, data.userId);
      return { state: 'ok', sessionId: id, userId: data.userId };
    } catch {
      const known = this.recent.get(id);
      if (known && Date.now() - known.at < OUTAGE_GRACE_MS) return { state: 'ok', sessionId: id, userId: known.userId };
      return { state: 'unavailable' };
    }
  }

  /** Deletes a session. Errors are swallowed: the cookie is cleared anyway and the TTL expires it. */
  async destroy(id: string): Promise<void> {
    this.recent.delete(id);
    await this.redis.del(key(id)).catch(() => undefined);
  }
}
