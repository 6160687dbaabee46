/**
 * The mail outbox (`mail_outbox`): every email the app sends is first a row, written in the same
 * transaction as the change that causes it, then sent in the background.
 *
 * - Idempotent across replicas: an optional `dedupe_key` is unique, so enqueueing the same message
 *   twice (a retry, two replicas) records it once; sending claims a row by moving its
 *   `next_attempt_at` forward by a lease, so two replicas never send it at the same time.
 * - Daily cap per account: each newly enqueued row takes one unit of the account's quota for the
 *   UTC day (`mail_quota`, an atomic conditional upsert); past the cap the row is recorded as
 *   `suppressed` and never sent, whatever its kind, so no request pattern can turn the app into a
 *   mail cannon against one address.
 * - Failures are retried with exponential backoff (`retryBaseMs` doubled per attempt, at most one
 *   hour) by {@link Outbox.start}'s loop. A crash between SendGrid accepting and the row being
 *   marked sent can resend once after the lease: at-least-once at that single point.
 * - Token mails (verification, reset) are never sent after their token expired (`expired`), and
 *   their payload (the link) is wiped once sent.
 *
 * Nothing here throws into a user's request except {@link Outbox.enqueue}'s database errors.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Mailer } from './mailer.js';
import type { Metrics } from './metrics.js';
import { renderMail, TOKEN_KINDS, type MailKind, type MailPayloads } from './mails.js';

export interface OutboxOptions {
  /** Milliseconds between scans for due rows (default 30 000). */
  loopIntervalMs?: number;
  /** First retry delay in milliseconds, doubled per attempt up to one hour (default 60 000). */
  retryBaseMs?: number;
  /** Seconds a claimed row stays invisible to other senders (default 120). */
  leaseSeconds?: number;
  /** Emails accepted per account per UTC day (default 10). */
  dailyCapPerAccount?: number;
}

export interface Enqueue<K extends MailKind> {
  userId: string;
  kind: K;
  recipient: string;
  payload: MailPayloads[K];
  /** Same key, same message: enqueued at most once. */
  dedupeKey?: string;
}

type Queryable = pg.Pool | pg.PoolClient;

export class Outbox {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly loopIntervalMs: number;
  private readonly retryBaseMs: number;
  private readonly leaseSeconds: number;
  readonly dailyCap: number;
  private scanning = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly mailer: Mailer,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly publicBaseUrl: string,
    opts: OutboxOptions = {},
  ) {
    this.loopIntervalMs = opts.loopIntervalMs ?? 30_000;
    this.retryBaseMs = opts.retryBaseMs ?? 60_000;
    this.leaseSeconds = opts.leaseSeconds ?? 120;
    this.dailyCap = opts.dailyCapPerAccount ?? 10;
  }

  /**
   * Records a message on `db` (pass the transaction client to enqueue atomically with a change).
   * Returns the row id, or null when `dedupeKey` was already enqueued. A row over the account's
   * daily cap is recorded as `suppressed`. Call {@link Outbox.kick} with the id after committing.
   */
  async enqueue<K extends MailKind>(db: Queryable, m: Enqueue<K>): Promise<{ id: string; suppressed: boolean } | null> {
    const ins = await db.query(
      `INSERT INTO mail_outbox (user_id, kind, dedupe_key, recipient, payload) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
      [m.userId, m.kind, m.dedupeKey ?? null, m.recipient, JSON.stringify(m.payload)],
    );
    const id = ins.rows[0]?.id as string | undefined;
    if (id === undefined) return null;
    const quota = await db.query(
      `INSERT INTO mail_quota AS q (user_id, day, count) VALUES ($1, (now() AT TIME ZONE 'UTC')::date, 1)
       ON CONFLICT (user_id, day) DO UPDATE SET count = q.count + 1 WHERE q.count < $2
       RETURNING count`,
      [m.userId, this.dailyCap],
    );
    if (quota.rows.length > 0) return { id: String(id), suppressed: false };
    await db.query(`UPDATE mail_outbox SET status = 'suppressed', last_error = 'daily cap reached' WHERE id = $1`, [id]);
    this.metrics.mail.inc({ kind: m.kind, result: 'suppressed' });
    this.log.warn({ userId: m.userId, kind: m.kind, cap: this.dailyCap }, 'daily mail cap reached; message suppressed');
    return { id: String(id), suppressed: true };
  }

  /** Starts sending a committed row in the background (the loop would pick it up anyway). */
  kick(id: string): void {
    this.track(this.deliver(id));
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Claims one due row and sends it; on failure schedules the next attempt. Never throws. */
  private async deliver(id: string): Promise<void> {
    let row: Record<string, any> | undefined;
    try {
      const claimed = await this.pool.query(
        `UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
          WHERE id = $1 AND status = 'pending' AND next_attempt_at <= now()
          RETURNING id, kind, recipient, payload, attempts,
                    (payload ? 'expiresAt' AND (payload->>'expiresAt')::timestamptz <= now()) AS expired`,
        [id, this.leaseSeconds],
      );
      row = claimed.rows[0];
      if (!row) return; // sent, suppressed, or claimed by another sender
      if (row.expired) {
        await this.pool.query(`UPDATE mail_outbox SET status = 'expired', payload = '{}' WHERE id = $1`, [id]);
        this.metrics.mail.inc({ kind: row.kind, result: 'expired' });
        return;
      }
      await this.mailer.send(renderMail(row.kind, row.recipient, row.payload, this.publicBaseUrl));
      await this.pool.query(
        `UPDATE mail_outbox SET status = 'sent', sent_at = now(), last_error = NULL,
                payload = CASE WHEN kind = ANY($2::text[]) THEN '{}'::jsonb ELSE payload END
          WHERE id = $1`,
        [id, TOKEN_KINDS],
      );
      this.metrics.mail.inc({ kind: row.kind, result: 'sent' });
      this.log.info({ mailId: id, kind: row.kind }, 'mail sent');
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.metrics.mail.inc({ kind: row?.kind ?? 'unknown', result: 'failed' });
      this.log.warn({ mailId: id, err: message }, 'mail send failed; will retry');
      if (row) {
        const delayMs = Math.min(this.retryBaseMs * 2 ** Math.max(0, row.attempts - 1), 3_600_000);
        await this.pool
          .query(
            `UPDATE mail_outbox SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3)
              WHERE id = $1 AND status = 'pending'`,
            [id, message.slice(0, 500), delayMs / 1000],
          )
          .catch((e: Error) => this.log.error({ err: e.message }, 'could not reschedule mail'));
      }
    }
  }

  /** Sends every due pending row once (what the loop runs); returns how many were attempted. */
  async sendDue(): Promise<number> {
    if (this.scanning) return 0;
    this.scanning = true;
    try {
      const due = await this.pool.query(
        `SELECT id FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT 50`,
      );
      for (const r of due.rows) {
        const p = this.deliver(String(r.id));
        this.track(p);
        await p;
      }
      return due.rows.length;
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'mail outbox scan failed');
      return 0;
    } finally {
      this.scanning = false;
    }
  }

  /** Starts the retry loop (timer is unref'd: it never keeps the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sendDue(), this.loopIntervalMs);
    this.timer.unref();
  }

  /** Stops the loop and waits for sends already under way. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight]);
  }
}
