/**
 * Expense writes and month summaries shared by the JSON API and the HTML pages: every write
 * drops the affected months from the dashboard cache and checks the budget thresholds, so the
 * two front ends cannot diverge on those side effects.
 */
import type pg from 'pg';
import { TREND_MONTHS, type SummaryCache } from './cache.js';
import { addMonths, monthsEnding } from './calendar.js';
import type { BudgetAlerts } from './alerts.js';
import * as repo from './repo.js';
import type { Expense, MonthAggregates, Settings } from './repo.js';
import type { ExpenseInput, ExpensePatch } from './validation.js';

export class ExpenseService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly cache: SummaryCache,
    private readonly alerts: BudgetAlerts,
  ) {}

  private async afterWrite(userId: string, dates: string[]): Promise<void> {
    const months = dates.map((d) => d.slice(0, 7));
    await this.cache.invalidate(userId, months);
    await this.alerts.check(userId, months);
  }

  async create(userId: string, input: ExpenseInput): Promise<Expense> {
    const e = await repo.insertExpense(this.pool, userId, input);
    await this.afterWrite(userId, [e.date]);
    return e;
  }

  /** Applies `patch`; `null` when the expense does not exist for this user. */
  async patch(userId: string, id: string, patch: ExpensePatch): Promise<Expense | null> {
    const r = await repo.updateExpense(this.pool, userId, id, patch);
    if (!r) return null;
    await this.afterWrite(userId, [r.expense.date, r.previousDate]);
    return r.expense;
  }

  /**
   * After a bulk import added expenses in `months` (YYYY-MM): drops them from the cache and checks
   * the budget alerts (only the running month, and the previous one in its first days, may alert:
   * an imported history is not news).
   */
  async afterImport(userId: string, months: string[]): Promise<void> {
    await this.cache.invalidate(userId, months);
    await this.alerts.check(userId, months);
  }

  /** Deletes one expense; false when it does not exist for this user. */
  async remove(userId: string, id: string): Promise<boolean> {
    const date = await repo.deleteExpense(this.pool, userId, id);
    if (!date) return false;
    await this.cache.invalidate(userId, [date.slice(0, 7)]);
    return true;
  }

  /** The month's aggregates (through the cache) and the user's budget settings. */
  async summary(userId: string, month: string): Promise<{ aggregates: MonthAggregates; settings: Settings }> {
    const [aggregates, settings] = await Promise.all([
      this.cache.aggregates(userId, month, () => repo.monthAggregates(this.pool, userId, month)),
      repo.getSettings(this.pool, userId),
    ]);
    return { aggregates, settings };
  }

  /** Totals in `currency` of the twelve months ending with `month`, oldest first (zero-filled). */
  async lastMonths(userId: string, month: string, currency: string): Promise<{ month: string; totalCents: number }[]> {
    const totals = await this.cache.trend(userId, month, () =>
      repo.monthlyTotals(this.pool, userId, addMonths(month, 1 - TREND_MONTHS), month),
    );
    const inCurrency = new Map(totals.filter((t) => t.currency === currency).map((t) => [t.month, t.totalCents]));
    return monthsEnding(month, TREND_MONTHS).map((m) => ({ month: m, totalCents: inCurrency.get(m) ?? 0 }));
  }
}
