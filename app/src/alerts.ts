/**
 * Budget alerts: one email per threshold (80 % and 100 % of the monthly limit) per user per month.
 *
 * Exactly-once comes from the table, not from memory: `budget_alerts` has a unique constraint on
 * (user_id, month, threshold), and a row is inserted with `ON CONFLICT DO NOTHING` when a write
 * takes the month across a threshold, so retries and other replicas cannot record it twice. The
 * row is an outbox entry: it is sent right away in the background and, if SendGrid fails, retried
 * by {@link BudgetAlerts.start}'s loop with exponential backoff. Sending claims a row by moving its
 * `next_attempt_at` forward (a lease), so two replicas never send the same row concurrently.
 * When one write crosses both thresholds at once, only the 100 % email is sent (the 80 % row is
 * recorded as `superseded`). Nothing here ever throws into the user's request.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Mailer } from './mailer.js';
import type { Metrics } from './metrics.js';
import { getSettings, findUserById, monthTotal } from './repo.js';
import { formatMoney } from './money.js';
import { escapeHtml } from './html.js';

/** Percentages of the monthly limit that trigger an email. */
const THRESHOLDS = [80, 100] as const;

export interface AlertOptions {
  /** Milliseconds between scans for due retries (default 30 000). */
  loopIntervalMs?: number;
  /** First retry delay in milliseconds, doubled per attempt up to one hour (default 60 000). */
  retryBaseMs?: number;
  /** Seconds a claimed row stays invisible to other senders (default 120). */
  leaseSeconds?: number;
}

export class BudgetAlerts {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly loopIntervalMs: number;
  private readonly retryBaseMs: number;
  private readonly leaseSeconds: number;
  private scanning = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly mailer: Mailer,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly publicBaseUrl: string,
    opts: AlertOptions = {},
  ) {
    this.loopIntervalMs = opts.loopIntervalMs ?? 30_000;
    this.retryBaseMs = opts.retryBaseMs ?? 60_000;
    this.leaseSeconds = opts.leaseSeconds ?? 120;
  }

  /**
   * Records the thresholds the user's `months` (YYYY-MM) have reached and starts sending new ones
   * in the background. Call after a committed expense write. Never throws (errors are logged; the
   * loop picks up anything recorded but unsent).
   */
  async check(userId: string, months: Iterable<string>): Promise<void> {
    try {
      const settings = await getSettings(this.pool, userId);
      if (settings.monthlyLimitCents === null) return;
      const limit = settings.monthlyLimitCents;
      for (const month of new Set(months)) {
        const spent = await monthTotal(this.pool, userId, month, settings.currency);
        const reached = THRESHOLDS.filter((t) => spent * 100 >= limit * t);
        if (reached.length === 0) continue;
        const highest = Math.max(...reached);
        let recipient = settings.alertEmail;
        if (!recipient) recipient = (await findUserById(this.pool, userId))?.email ?? null;
        if (!recipient) continue;
        for (const threshold of reached) {
          const res = await this.pool.query(
            `INSERT INTO budget_alerts (user_id, month, threshold, status, recipient, spent_cents, limit_cents, currency)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT ON CONSTRAINT budget_alerts_once DO NOTHING RETURNING id`,
            [userId, `${month}-01`, threshold, threshold < highest ? 'superseded' : 'pending', recipient, spent, limit, settings.currency],
          );
          const id = res.rows[0]?.id;
          if (id !== undefined && threshold === highest) this.track(this.deliver(String(id)));
        }
      }
    } catch (err) {
      this.log.error({ err }, 'budget alert check failed');
    }
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Claims one due row and sends it; on failure schedules the next attempt. */
  private async deliver(id: string): Promise<void> {
    let row: Record<string, any> | undefined;
    try {
      const claimed = await this.pool.query(
        `UPDATE budget_alerts SET attempts = attempts + 1,
                next_attempt_at = now() + make_interval(secs => $2)
          WHERE id = $1 AND status = 'pending' AND next_attempt_at <= now()
          RETURNING id, threshold, recipient, spent_cents::float8 AS spent, limit_cents::float8 AS lim,
                    trim(currency) AS currency, to_char(month, 'YYYY-MM') AS month, attempts`,
        [id, this.leaseSeconds],
      );
      row = claimed.rows[0];
      if (!row) return; // sent, superseded, or claimed by another sender
      await this.mailer.send(this.compose(row));
      await this.pool.query(`UPDATE budget_alerts SET status = 'sent', sent_at = now(), last_error = NULL WHERE id = $1`, [id]);
      this.metrics.alerts.inc({ result: 'sent' });
      this.log.info({ alertId: id, threshold: row.threshold, month: row.month }, 'budget alert sent');
    } catch (err) {
      this.metrics.alerts.inc({ result: 'failed' });
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn({ alertId: id, err: message }, 'budget alert send failed; will retry');
      if (row) {
        const delayMs = Math.min(this.retryBaseMs * 2 ** Math.max(0, row.attempts - 1), 3_600_000);
        await this.pool
          .query(
            `UPDATE budget_alerts SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3)
              WHERE id = $1 AND status = 'pending'`,
            [id, message.slice(0, 500), delayMs / 1000],
          )
          .catch((e: Error) => this.log.error({ err: e.message }, 'could not reschedule budget alert'));
      }
    }
  }

  private compose(row: Record<string, any>) {
    const pct = Math.floor((row.spent * 100) / row.lim);
    const spent = formatMoney(row.spent, row.currency);
    const limit = formatMoney(row.lim, row.currency);
    const subject =
      row.threshold >= 100
        ? `Budget alert: you reached your ${row.month} budget`
        : `Budget alert: ${row.threshold}% of your ${row.month} budget used`;
    const link = `${this.publicBaseUrl}/dashboard`;
    const text = `You have spent ${spent} of your ${limit} monthly budget for ${row.month} (${pct}%).\n\nSee your dashboard: ${link}\n`;
    const html = `<p>You have spent <strong>${escapeHtml(spent)}</strong> of your ${escapeHtml(limit)} monthly budget for ${escapeHtml(row.month)} (${pct}%).</p><p><a href="${escapeHtml(link)}">Open your dashboard</a></p>`;
    return { to: row.recipient as string, subject, text, html };
  }

  /** Sends every due pending row once (what the loop runs); returns how many were attempted. */
  async sendDue(): Promise<number> {
    if (this.scanning) return 0;
    this.scanning = true;
    try {
      const due = await this.pool.query(
        `SELECT id FROM budget_alerts WHERE status = 'pending' AND next_attempt_at <= now()
          ORDER BY next_attempt_at LIMIT 50`,
      );
      for (const r of due.rows) {
        const p = this.deliver(String(r.id));
        this.track(p);
        await p;
      }
      return due.rows.length;
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'budget alert scan failed');
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
