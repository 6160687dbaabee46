/** The dashboard: a chosen month's totals, budget, categories, days, the last twelve months and recent expenses. */
import { html, type Html } from '../html.js';
import { formatMoney } from '../money.js';
import { addMonths } from '../calendar.js';
import type { Expense, MonthAggregates, Settings } from '../repo.js';
import { layout, type PageContext } from './layout.js';
import { barChart, dayChart, monthChart } from './charts.js';
import { expenseTable } from './expenses.js';

export interface DashboardData {
  month: string;
  /** The user's current month (the switcher offers no later month). */
  currentMonth: string;
  settings: Settings;
  aggregates: MonthAggregates;
  /** Totals in the budget currency of the twelve months ending with `month`, oldest first. */
  lastMonths: { month: string; totalCents: number }[];
  recent: Expense[];
}

function monthSwitcher(month: string, current: string): Html {
  const prev = addMonths(month, -1);
  const next = addMonths(month, 1);
  return html`<nav class="months" aria-label="Month" data-testid="month-switcher">
<a rel="prev" href="/dashboard?month=${prev}" data-testid="previous-month">← ${prev}</a>
<form class="inline" method="get" action="/dashboard"><label>Month <input type="month" name="month" value="${month}" required></label><button class="secondary" type="submit">Show</button></form>
${month < current ? html`<a rel="next" href="/dashboard?month=${next}" data-testid="next-month">${next} →</a>` : ''}
${month !== current ? html`<a href="/dashboard?month=${current}">This month</a>` : ''}</nav>`;
}

export function dashboardPage(ctx: PageContext, d: DashboardData): Html {
  const cur = d.settings.currency;
  const total = d.aggregates.totals.find((t) => t.currency === cur)?.totalCents ?? 0;
  const others = d.aggregates.totals.filter((t) => t.currency !== cur);
  const limit = d.settings.monthlyLimitCents;
  const pct = limit ? Math.round((total * 100) / limit) : 0;
  const categories = d.aggregates.byCategory
    .filter((c) => c.currency === cur)
    .sort((a, b) => b.totalCents - a.totalCents || a.category.localeCompare(b.category));
  const bars = categories.map((c) => ({ label: c.category, value: c.totalCents, text: formatMoney(c.totalCents, cur) }));
  const days = d.aggregates.byDay.filter((x) => x.currency === cur);
  return layout(
    ctx,
    html`<h1>Dashboard <span class="muted" data-testid="dashboard-month">${d.month}</span></h1>
${monthSwitcher(d.month, d.currentMonth)}
<div class="grid">
<div class="card"><div class="muted">Spent in ${d.month}</div><div class="stat" data-testid="month-total">${formatMoney(total, cur)}</div>
${others.map((o) => html`<div class="muted">+ ${formatMoney(o.totalCents, o.currency)}</div>`)}</div>
<div class="card"><div class="muted">Remaining budget</div>${
      limit
        ? html`<div class="stat" data-testid="remaining">${formatMoney(limit - total, cur)}</div>
<svg class="progress" viewBox="0 0 100 10" preserveAspectRatio="none" width="100%" height="10" role="img" aria-label="${pct}% of budget used"><rect width="100" height="10" fill="#e4e7eb"/><rect width="${Math.min(100, pct)}" height="10" fill="${pct >= 100 ? '#c81e1e' : pct >= 80 ? '#d97706' : '#16a34a'}"/></svg>
<div class="muted">${pct}% of ${formatMoney(limit, cur)}</div>`
        : html`<div class="stat" data-testid="remaining">—</div><div class="muted"><a href="/settings">Set a monthly limit</a></div>`
    }</div></div>
<div class="grid">
<div class="card"><h2>By category</h2>${barChart('chart-category', 'Spending by category', bars)}
${categories.length
  ? html`<table data-testid="category-totals"><thead><tr><th>Category</th><th class="num">Total</th><th class="num">Share</th></tr></thead><tbody>
${categories.map((c) => html`<tr><td>${c.category}</td><td class="num">${formatMoney(c.totalCents, cur)}</td><td class="num">${total ? Math.round((c.totalCents * 1000) / total) / 10 : 0}%</td></tr>`)}</tbody></table>`
  : ''}</div>
<div class="card"><h2>By day</h2>${dayChart(d.month, days, cur)}</div></div>
<div class="card"><h2>Last 12 months <span class="muted">(${cur})</span></h2>${monthChart(d.lastMonths, d.month, cur, limit)}</div>
<div class="card"><h2>Recent expenses</h2>${expenseTable(ctx, d.recent, false)}<p><a href="/expenses?month=${d.month}">All expenses of ${d.month}</a></p></div>`,
  );
}
