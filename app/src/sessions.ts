/**
 * Server-side sessions in Redis. The cookie holds only a random session id (256 bits, signed with
 * SESSION_SECRET by @fastify/cookie); Redis holds `sess:<id>` -> `{"userId": ...}` with a sliding
 * TTL. When Redis is unreachable, loading reports `unavailable` (pages that need a login answer
 * 503, public pages keep working) and creating a session throws {@link SessionsUnavailableError}.
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

const key = (id: string) => `sess:${id}`;

export class SessionStore {
  constructor(private readonly redis: Redis) {}

  /** Creates a session for `userId` and returns its id. @throws SessionsUnavailableError */
  async create(userId: string): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    try {
      await this.redis.set(key(id), JSON.stringify({ userId, createdAt: new Date().toISOString() }), 'EX', SESSION_TTL_SECONDS);
    } catch (err) {
      throw new SessionsUnavailableError(err);
    }
    return id;
  }

  /** Looks a session id up and slides its TTL. */
  async load(id: string): Promise<SessionLookup> {
    try {
      const raw = await this.redis.getex(key(id), 'EX', SESSION_TTL_SECONDS);
      if (!raw) return { state: 'none' };
      const data = JSON.parse(raw) as { userId?: unknown };
      return typeof data.userId === 'string' ? { state: 'ok', sessionId: id, userId: data.userId } : { state: 'none' };
    } catch {
      return { state: 'unavailable' };
    }
  }

  /** Deletes a session. Errors are swallowed: the cookie is cleared anyway and the TTL expires it. */
  async destroy(id: string): Promise<void> {
    await this.redis.del(key(id)).catch(() => undefined);
  }
}
