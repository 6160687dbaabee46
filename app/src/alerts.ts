/**
 * Budget alerts: one email per threshold (80 % and 100 % of the monthly limit) per user, month and
 * limit generation, sent through the mail outbox.
 *
 * Exactly-once comes from the table, not from memory: `budget_alerts` has a unique constraint on
 * (user_id, month, threshold, generation); a row is inserted with `ON CONFLICT DO NOTHING` when a
 * write takes the month across a threshold, and the email is enqueued in the same transaction with
 * a matching `dedupe_key`, so retries and other replicas cannot record or send it twice. When one
 * write crosses both thresholds at once, only the 100 % email is sent (the 80 % row is recorded as
 * `superseded`).
 *
 * Abuse limits: alerts go only to a verified address (the account email, or the alert email once
 * confirmed); only for the user's current month in their time zone, and for the previous month
 * during the first {@link AlertOptions.graceDays} days of a month (late receipts), never for older
 * or future months; a new limit or currency starts a new generation, so the month's alerts re-arm;
 * and every email counts against the account's daily cap in the outbox.
 * Nothing here ever throws into the user's request.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Outbox } from './outbox.js';
import { getSettings, findUserById, monthTotal } from './repo.js';
import { addMonths, dateIn } from './calendar.js';
import { withTransaction } from './db.js';

/** Percentages of the monthly limit that trigger an email. */
const THRESHOLDS = [80, 100] as const;

export interface AlertOptions {
  /** Days at the start of a month during which the previous month still alerts (default 3). */
  graceDays?: number;
  /** The clock (tests move it); default `new Date()`. */
  now?: () => Date;
}

export class BudgetAlerts {
  private readonly graceDays: number;
  private readonly now: () => Date;

  constructor(
    private readonly pool: pg.Pool,
    private readonly outbox: Outbox,
    private readonly log: Logger,
    opts: AlertOptions = {},
  ) {
    this.graceDays = opts.graceDays ?? 3;
    this.now = opts.now ?? (() => new Date());
  }

  /** The months (YYYY-MM) that may still alert today in `timeZone`. */
  alertableMonths(timeZone: string): string[] {
    const today = dateIn(timeZone, this.now());
    const current = today.slice(0, 7);
    return Number(today.slice(8, 10)) <= this.graceDays ? [current, addMonths(current, -1)] : [current];
  }

  /**
   * Records the thresholds the user's `months` (YYYY-MM) have reached and enqueues the emails.
   * Call after a committed expense or settings write. Never throws (errors are logged).
   */
  async check(userId: string, months: Iterable<string>): Promise<void> {
    try {
      const [user, settings] = await Promise.all([findUserById(this.pool, userId), getSettings(this.pool, userId)]);
      if (!user || settings.monthlyLimitCents === null) return;
      const recipient = settings.alertEmail ?? user.email;
      const verified = recipient === user.email ? user.emailVerified : settings.alertEmailVerified;
      if (!verified) return;
      const eligible = new Set(this.alertableMonths(user.timeZone));
      for (const month of new Set(months)) {
        if (!eligible.has(month)) continue;
        await this.record(userId, month, recipient, settings.monthlyLimitCents, settings.currency, settings.generation);
      }
    } catch (err) {
      this.log.error({ err }, 'budget alert check failed');
    }
  }

  private async record(userId: string, month: string, recipient: string, limit: number, currency: string, generation: number) {
    const spent = await monthTotal(this.pool, userId, month, currency);
    const reached = THRESHOLDS.filter((t) => spent * 100 >= limit * t);
    if (reached.length === 0) return;
    const highest = Math.max(...reached);
    const mailId = await withTransaction(this.pool, async (client) => {
      let queuedId: string | undefined;
      for (const threshold of reached) {
        const res = await client.query(
          `INSERT INTO budget_alerts (user_id, month, threshold, generation, status) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT ON CONSTRAINT budget_alerts_once DO NOTHING RETURNING id`,
          [userId, `${month}-01`, threshold, generation, threshold < highest ? 'superseded' : 'queued'],
        );
        if (res.rows.length === 0 || threshold < highest) continue;
        const queued = await this.outbox.enqueue(client, {
          userId,
          kind: 'budget_alert',
          recipient,
          payload: { threshold, month, spentCents: spent, limitCents: limit, currency },
          dedupeKey: `budget:${userId}:${month}:${threshold}:${generation}`,
        });
        if (!queued) continue;
        await client.query('UPDATE budget_alerts SET mail_id = $2 WHERE id = $1', [res.rows[0].id, queued.id]);
        if (!queued.suppressed) queuedId = queued.id;
      }
      return queuedId;
    });
    if (mailId) this.outbox.kick(mailId);
  }
}
