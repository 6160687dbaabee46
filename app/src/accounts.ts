/**
 * Account flows: registration, email verification, password reset, password change, account
 * deletion. Every email goes through the outbox in the same transaction as the change behind it.
 *
 * - Tokens (verification, reset) are 256 random bits sent in a link; only their SHA-256 is stored
 *   (`account_tokens`). They are single-use (consumed by an atomic `UPDATE ... WHERE used_at IS
 *   NULL AND expires_at > now()`) and expire: {@link RESET_TOKEN_SECONDS}, {@link VERIFY_TOKEN_SECONDS}.
 * - No account enumeration: registering an email that already has an account answers exactly like
 *   a new registration and mails the owner instead ("you already have an account"); a reset request
 *   answers the same whether or not the email exists.
 * - A verified address is what makes an account eligible for budget alerts and for the admin role
 *   (`ADMIN_EMAIL`, or an address granted with `cli.js create-admin`): both apply only once the
 *   owner of the mailbox has followed the link.
 * - A password change ends every other session; a reset ends all of them and clears the
 *   account's login throttling (the owner proved control of the mailbox).
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Outbox } from './outbox.js';
import type { SessionStore } from './sessions.js';
import { withTransaction } from './db.js';
import * as repo from './repo.js';
import type { User } from './repo.js';
import { assertStrongPassword, hashPassword, verifyPassword } from './passwords.js';
import { ValidationError } from './validation.js';

/** Seconds a password reset link stays valid. */
export const RESET_TOKEN_SECONDS = 3600;
/** Seconds an email verification link stays valid. */
export const VERIFY_TOKEN_SECONDS = 48 * 3600;

type Purpose = 'password_reset' | 'verify_email';
const tokenHash = (token: string) => createHash('sha256').update(token).digest();

export interface AccountsConfig {
  publicBaseUrl: string;
  /** Lower-cased email that becomes admin once verified (optional). */
  adminEmail?: string | undefined;
}

export class Accounts {
  constructor(
    private readonly pool: pg.Pool,
    private readonly outbox: Outbox,
    private readonly sessions: SessionStore,
    private readonly config: AccountsConfig,
    private readonly log: Logger,
  ) {}

  /** Creates a token row on `db` and returns the token (to be put in a link). */
  private async issueToken(db: pg.PoolClient, userId: string, purpose: Purpose, email: string, seconds: number) {
    const token = randomBytes(32).toString('base64url');
    const res = await db.query(
      `INSERT INTO account_tokens (token_hash, user_id, purpose, email, expires_at)
       VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) RETURNING expires_at`,
      [tokenHash(token), userId, purpose, email, seconds],
    );
    return { token, expiresAt: (res.rows[0].expires_at as Date).toISOString() };
  }

  /**
   * Uses a live token of `purpose` (single use: the atomic update succeeds once, and never for an
   * expired one). Returns the user and the address it was issued for, or undefined.
   */
  private async consumeToken(db: pg.PoolClient, token: string, purpose: Purpose): Promise<{ user_id: string; email: string } | undefined> {
    const t = await db.query(
      `UPDATE account_tokens SET used_at = now()
        WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
        RETURNING user_id, email`,
      [tokenHash(token), purpose],
    );
    return t.rows[0];
  }

  /** Enqueues a verification link for `email` (the account email or the alert email) on `db`. */
  private async queueVerification(db: pg.PoolClient, userId: string, email: string): Promise<string | undefined> {
    const { token, expiresAt } = await this.issueToken(db, userId, 'verify_email', email, VERIFY_TOKEN_SECONDS);
    const link = `${this.config.publicBaseUrl}/verify-email?token=${token}`;
    const queued = await this.outbox.enqueue(db, { userId, kind: 'verify_email', recipient: email, payload: { link, expiresAt } });
    return queued && !queued.suppressed ? queued.id : undefined;
  }

  private kick(id: string | undefined): void {
    if (id) this.outbox.kick(id);
  }

  /**
   * Registers `email`, or, when it already has an account, mails its owner instead. The caller
   * answers both the same way. The password must already have passed {@link assertStrongPassword}.
   */
  async register(email: string, password: string, timeZone: string): Promise<void> {
    const hash = await hashPassword(password);
    const mailId = await withTransaction(this.pool, async (db) => {
      const user = await repo.createUser(db, email, hash, timeZone);
      if (user) {
        this.log.info({ userId: user.id }, 'user registered');
        return this.queueVerification(db, user.id, email);
      }
      const existing = await repo.findUserByEmail(db, email);
      if (!existing) return undefined;
      this.log.info({ userId: existing.id }, 'registration attempt for an existing account');
      const queued = await this.outbox.enqueue(db, { userId: existing.id, kind: 'account_exists', recipient: email, payload: {} });
      return queued && !queued.suppressed ? queued.id : undefined;
    });
    this.kick(mailId);
  }

  /** Sends a new verification link for the account email (if unverified) or the unverified alert email. */
  async resendVerification(user: User, alertEmail: string | null): Promise<'account' | 'alert' | 'none'> {
    const target = !user.emailVerified ? user.email : alertEmail;
    if (!target) return 'none';
    this.kick(await withTransaction(this.pool, (db) => this.queueVerification(db, user.id, target)));
    return target === user.email ? 'account' : 'alert';
  }

  /** Sends a verification link for a newly set alert email (unless it is the verified account email). */
  async alertEmailChanged(user: User, alertEmail: string): Promise<void> {
    if (alertEmail === user.email) return;
    this.kick(await withTransaction(this.pool, (db) => this.queueVerification(db, user.id, alertEmail)));
  }

  /**
   * Consumes a verification token: marks the address it was sent to verified (and grants admin
   * when it is the account email and `ADMIN_EMAIL` or an admin grant names it). Returns the
   * verified address, or null for an unknown, used or expired token or an address since replaced.
   */
  async verifyEmail(token: string): Promise<string | null> {
    return withTransaction(this.pool, async (db) => {
      const row = await this.consumeToken(db, token, 'verify_email');
      if (!row) return null;
      const account = await db.query(
        `UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()),
                is_admin = is_admin OR COALESCE(email = $3, false) OR EXISTS (SELECT 1 FROM admin_grants g WHERE g.email = users.email)
          WHERE id = $1 AND email = $2 RETURNING is_admin`,
        [row.user_id, row.email, this.config.adminEmail ?? null],
      );
      if (account.rows[0]) {
        this.log.info({ userId: row.user_id, isAdmin: account.rows[0].is_admin }, 'account email verified');
        return row.email as string;
      }
      const alert = await db.query(
        `UPDATE user_settings SET alert_email_verified_at = COALESCE(alert_email_verified_at, now())
          WHERE user_id = $1 AND alert_email = $2`,
        [row.user_id, row.email],
      );
      return (alert.rowCount ?? 0) > 0 ? (row.email as string) : null;
    });
  }

  /** Mails a reset link when `email` has an account; does nothing (and says nothing) otherwise. */
  async requestPasswordReset(email: string): Promise<void> {
    const mailId = await withTransaction(this.pool, async (db) => {
      const user = await repo.findUserByEmail(db, email);
      if (!user) return undefined;
      const { token, expiresAt } = await this.issueToken(db, user.id, 'password_reset', email, RESET_TOKEN_SECONDS);
      const link = `${this.config.publicBaseUrl}/password/reset?token=${token}`;
      const queued = await this.outbox.enqueue(db, { userId: user.id, kind: 'password_reset', recipient: email, payload: { link, expiresAt } });
      return queued && !queued.suppressed ? queued.id : undefined;
    });
    this.kick(mailId);
  }

  /** The email of the account a live (unused, unexpired) reset token belongs to, else null. */
  async resetTokenEmail(token: string): Promise<string | null> {
    const res = await this.pool.query(
      `SELECT u.email FROM account_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = $1 AND t.purpose = 'password_reset' AND t.used_at IS NULL AND t.expires_at > now()`,
      [tokenHash(token)],
    );
    return res.rows[0]?.email ?? null;
  }

  /**
   * Sets a new password with a reset token: consumes it (and every other reset token of the
   * account), ends all sessions, and marks the email verified (the link reached the mailbox).
   * Returns the account email, or null when the token is unknown, used or expired.
   * @throws ValidationError (`password`) for a weak password; the token stays usable then.
   */
  async resetPassword(token: string, password: string): Promise<string | null> {
    const email = await this.resetTokenEmail(token);
    if (!email) return null;
    await assertStrongPassword(password, [email]);
    const hash = await hashPassword(password);
    return withTransaction(this.pool, async (db) => {
      const row = await this.consumeToken(db, token, 'password_reset');
      if (!row) return null;
      await db.query(
        `UPDATE users SET password_hash = $2, password_changed_at = now(),
                email_verified_at = CASE WHEN email = $3 THEN COALESCE(email_verified_at, now()) ELSE email_verified_at END
          WHERE id = $1`,
        [row.user_id, hash, row.email],
      );
      await db.query(`UPDATE account_tokens SET used_at = now() WHERE user_id = $1 AND purpose = 'password_reset' AND used_at IS NULL`, [row.user_id]);
      await db.query('DELETE FROM sessions WHERE user_id = $1', [row.user_id]);
      this.log.info({ userId: row.user_id }, 'password reset; every session ended');
      return row.email as string;
    });
  }

  /**
   * Changes the password of a logged-in user after checking the current one; ends every other
   * session. @throws ValidationError (`currentPassword` wrong, `newPassword` weak)
   */
  async changePassword(user: User, current: string, next: string, keepSession: string): Promise<void> {
    const found = await repo.findUserById(this.pool, user.id);
    if (!found || !(await verifyPassword(found.passwordHash, current))) throw new ValidationError('currentPassword', 'is not your current password');
    await assertStrongPassword(next, [user.email], 'newPassword');
    await this.pool.query('UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1', [user.id, await hashPassword(next)]);
    const ended = await this.sessions.destroyAll(user.id, keepSession);
    this.log.info({ userId: user.id, endedSessions: ended }, 'password changed');
  }

  /**
   * Deletes the account and, by cascade, its expenses, settings, sessions, tokens, alerts and
   * queued mail. @throws ValidationError (`password`) when the password is wrong.
   */
  async deleteAccount(user: User, password: string): Promise<void> {
    const found = await repo.findUserById(this.pool, user.id);
    if (!found || !(await verifyPassword(found.passwordHash, password))) throw new ValidationError('password', 'is not your current password');
    await this.pool.query('DELETE FROM users WHERE id = $1', [user.id]);
    this.log.info({ userId: user.id }, 'account deleted');
  }

  /** Deletes tokens expired for a day and mail quotas older than a week; returns how many rows. */
  async purgeExpired(): Promise<number> {
    const tokens = await this.pool.query(`DELETE FROM account_tokens WHERE expires_at < now() - interval '1 day'`);
    const quotas = await this.pool.query(`DELETE FROM mail_quota WHERE day < (now() AT TIME ZONE 'UTC')::date - 7`);
    return (tokens.rowCount ?? 0) + (quotas.rowCount ?? 0);
  }
}
