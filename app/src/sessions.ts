/**
 * Server-side sessions, durable in PostgreSQL (`sessions`), so they survive a Redis restart or
 * loss and every replica sees a logout at once. The signed `sid` cookie carries a random 256-bit
 * token; the table stores only its SHA-256. A session ends at the first of:
 * - {@link SESSION_IDLE_SECONDS} without a request (sliding; `last_seen_at` is refreshed at most
 *   every {@link TOUCH_SECONDS}, so a busy session costs one write per few minutes, not per request);
 * - {@link SESSION_ABSOLUTE_SECONDS} after login, whatever its activity;
 * - logout, "log out everywhere", a password change or reset, or account deletion.
 *
 * Redis is deliberately not in front: every authenticated request loads its user from
 * PostgreSQL anyway, and the lookup joins the session to the user in that same single indexed
 * round trip, so a cache could save nothing and would add a second place to revoke from.
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { USER_COLUMNS, toUser, type User } from './repo.js';
import { isDatabaseBusy, isDatabaseUnavailable } from './db.js';

export const SESSION_COOKIE = 'sid';
/** Idle timeout: seconds since the last request. */
export const SESSION_IDLE_SECONDS = 7 * 24 * 3600;
/** Absolute lifetime: seconds since login. Also the cookie's Max-Age. */
export const SESSION_ABSOLUTE_SECONDS = 30 * 24 * 3600;
/** Minimum seconds between two `last_seen_at` updates of one session. */
const TOUCH_SECONDS = 300;

export type SessionLookup =
  | { state: 'none' }
  /** PostgreSQL could not be asked: the session may well be valid. */
  | { state: 'unavailable' }
  /** No database connection became free in time (overload): the session may well be valid. */
  | { state: 'busy' }
  | { state: 'ok'; token: string; user: User };

const hash = (token: string) => createHash('sha256').update(token).digest();

export class SessionStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Starts a session for `userId`; returns the cookie token. */
  async create(userId: string): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.pool.query(
      `INSERT INTO sessions (id_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))`,
      [hash(token), userId, SESSION_ABSOLUTE_SECONDS],
    );
    return token;
  }

  /** The session's user when the token is live; `unavailable` when PostgreSQL cannot be reached, `busy` when no connection became free in time. */
  async load(token: string): Promise<SessionLookup> {
    try {
      const res = await this.pool.query(
        `SELECT ${USER_COLUMNS.map((c) => `u.${c}`).join(', ')},
                s.last_seen_at < now() - make_interval(secs => $3) AS stale
           FROM sessions s JOIN users u ON u.id = s.user_id
          WHERE s.id_hash = $1 AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2)`,
        [hash(token), SESSION_IDLE_SECONDS, TOUCH_SECONDS],
      );
      const row = res.rows[0];
      if (!row) return { state: 'none' };
      if (row.stale) await this.pool.query('UPDATE sessions SET last_seen_at = now() WHERE id_hash = $1', [hash(token)]);
      return { state: 'ok', token, user: toUser(row) };
    } catch (err) {
      if (isDatabaseBusy(err)) return { state: 'busy' };
      if (isDatabaseUnavailable(err)) return { state: 'unavailable' };
      throw err;
    }
  }

  /** Ends one session. */
  async destroy(token: string): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE id_hash = $1', [hash(token)]);
  }

  /** Ends every session of `userId` except `keepToken`'s; returns how many ended. */
  async destroyAll(userId: string, keepToken?: string): Promise<number> {
    const res = await this.pool.query('DELETE FROM sessions WHERE user_id = $1 AND id_hash IS DISTINCT FROM $2', [
      userId,
      keepToken === undefined ? null : hash(keepToken),
    ]);
    return res.rowCount ?? 0;
  }

  /** Deletes sessions past their idle or absolute end; returns how many. */
  async purgeExpired(): Promise<number> {
    const res = await this.pool.query(
      'DELETE FROM sessions WHERE expires_at <= now() OR last_seen_at <= now() - make_interval(secs => $1)',
      [SESSION_IDLE_SECONDS],
    );
    return res.rowCount ?? 0;
  }
}
