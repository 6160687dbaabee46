/**
 * Server-rendered pages. Every dynamic value goes through the escaping {@link html} template;
 * charts are inline SVG built here (no client-side JavaScript, no CDN).
 */
import { html, type Html } from './html.js';
import { centsToDecimal, formatMoney } from './money.js';
import type { Expense, MonthAggregates, Settings, User } from './repo.js';

export interface PageContext {
  user: User | null;
  csrfToken: string;
  title: string;
  flash?: string | undefined;
  error?: string | undefined;
}

/** The stylesheet, served at `/static/app.css` (CSP forbids inline styles). */
export const STYLESHEET = `
:root { --fg:#1f2933; --muted:#616e7c; --bg:#f5f7fa; --card:#fff; --accent:#2f6fde; --warn:#d97706; --bad:#c81e1e; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
header { background:#1f2a44; color:#fff; }
header nav { max-width:960px; margin:0 auto; display:flex; gap:1rem; align-items:center; padding:.75rem 1rem; }
header a { color:#fff; text-decoration:none; }
header .brand { font-weight:700; margin-right:auto; }
header form { margin:0; }
header button { background:transparent; color:#fff; border:1px solid #fff6; border-radius:4px; padding:.25rem .6rem; cursor:pointer; }
main { max-width:960px; margin:1.5rem auto; padding:0 1rem; }
h1 { margin-top:0; }
.card { background:var(--card); border-radius:8px; padding:1rem 1.25rem; box-shadow:0 1px 3px #0002; margin-bottom:1rem; }
.grid { display:grid; grid-template-columns:repeat(auto-fit, minmax(260px, 1fr)); gap:1rem; }
.stat { font-size:1.8rem; font-weight:700; }
.muted { color:var(--muted); }
.flash { background:#e3f2e1; border:1px solid #9bc995; padding:.6rem 1rem; border-radius:6px; margin-bottom:1rem; }
.error { background:#fde8e8; border:1px solid #f5a3a3; padding:.6rem 1rem; border-radius:6px; margin-bottom:1rem; }
form.stack { display:grid; gap:.6rem; max-width:420px; }
form.inline { display:flex; flex-wrap:wrap; gap:.5rem; align-items:end; }
label { display:grid; gap:.2rem; font-size:.9rem; }
input, select { padding:.45rem .5rem; border:1px solid #cbd2d9; border-radius:4px; font:inherit; }
button.primary { background:var(--accent); color:#fff; border:0; border-radius:4px; padding:.5rem 1rem; font:inherit; cursor:pointer; }
button.link { background:none; border:0; color:var(--bad); cursor:pointer; padding:0; font:inherit; }
table { width:100%; border-collapse:collapse; }
th, td { text-align:left; padding:.4rem .5rem; border-bottom:1px solid #e4e7eb; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.bar-label { font-size:12px; fill:#323f4b; }
.plans { display:grid; grid-template-columns:repeat(auto-fit, minmax(220px, 1fr)); gap:1rem; }
.plan h2 { margin:.2rem 0; }
.price { font-size:1.6rem; font-weight:700; }
.scroll { overflow-x:auto; }
.bad { color:var(--bad); }
progress { width:100%; }
.progress { height:10px; background:#e4e7eb; border-radius:5px; overflow:hidden; }
`;

/** The page frame (head, navigation, messages) around `body`. */
export function layout(ctx: PageContext, body: Html): Html {
  const nav = ctx.user
    ? html`<a href="/dashboard">Dashboard</a><a href="/expenses">Expenses</a><a href="/imports">Import</a><a href="/settings">Settings</a>
        ${ctx.user.isAdmin ? html`<a href="/customers">Customers</a>` : ''}
        <form method="post" action="/logout"><input type="hidden" name="_csrf" value="${ctx.csrfToken}">
        <button type="submit" data-testid="logout">Log out</button></form>`
    : html`<a href="/pricing">Pricing</a><a href="/login">Log in</a><a href="/register">Register</a>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${ctx.title} · Expense Tracker</title><link rel="stylesheet" href="/static/app.css"></head>
<body><header><nav><a class="brand" href="/">Expense Tracker</a>${nav}</nav></header>
<main>${ctx.flash ? html`<div class="flash" role="status">${ctx.flash}</div>` : ''}${
    ctx.error ? html`<div class="error" role="alert" data-testid="error">${ctx.error}</div>` : ''
  }${body}</main></body></html>`;
}

const csrfField = (ctx: PageContext) => html`<input type="hidden" name="_csrf" value="${ctx.csrfToken}">`;

export function landingPage(ctx: PageContext): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Know where your money goes</h1>
<p>Record expenses in any currency, set a monthly budget and get an email when you reach 80&nbsp;% and 100&nbsp;% of it.</p>
<p>${ctx.user ? html`<a href="/dashboard">Go to your dashboard</a>` : html`<a href="/register">Create a free account</a> or <a href="/login">log in</a>.`}</p></div>
<div class="grid"><div class="card"><h2>Track</h2><p>Add, edit and delete expenses by category and date.</p></div>
<div class="card"><h2>See</h2><p>Monthly totals, spending by category and by day, at a glance.</p></div>
<div class="card"><h2>Stay on budget</h2><p>Alerts by email before you overspend.</p></div></div>`,
  );
}

export function registerPage(ctx: PageContext, email = ''): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Create an account</h1>
<form class="stack" method="post" action="/register">${csrfField(ctx)}
<label>Email <input type="email" name="email" value="${email}" required autocomplete="email" maxlength="254"></label>
<label>Password (at least 8 characters) <input type="password" name="password" required minlength="8" maxlength="256" autocomplete="new-password"></label>
<button class="primary" type="submit">Register</button></form>
<p class="muted">Already registered? <a href="/login">Log in</a>.</p></div>`,
  );
}

export function loginPage(ctx: PageContext, email = ''): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Log in</h1>
<form class="stack" method="post" action="/login">${csrfField(ctx)}
<label>Email <input type="email" name="email" value="${email}" required autocomplete="email" maxlength="254"></label>
<label>Password <input type="password" name="password" required autocomplete="current-password" maxlength="256"></label>
<button class="primary" type="submit">Log in</button></form>
<p class="muted">No account yet? <a href="/register">Register</a>.</p></div>`,
  );
}

export function pricingPage(ctx: PageContext): Html {
  const plans = [
    { name: 'Free', price: '$0', items: ['Unlimited expenses', 'Monthly budget', 'Email alerts at 80 % and 100 %'] },
    { name: 'Pro', price: '$4 / month', items: ['Everything in Free', 'Multiple budgets', 'CSV export'] },
    { name: 'Family', price: '$9 / month', items: ['Everything in Pro', 'Up to 5 members', 'Shared categories'] },
  ];
  return layout(
    ctx,
    html`<h1>Pricing</h1><div class="plans">${plans.map(
      (p) => html`<div class="card plan"><h2>${p.name}</h2><p class="price">${p.price}</p><ul>${p.items.map((i) => html`<li>${i}</li>`)}</ul></div>`,
    )}</div><p class="muted">Paid plans are not on sale yet: every account is on the Free plan.</p>`,
  );
}

/** Horizontal bar chart (SVG): one bar per item, labels and values as text. */
function barChart(id: string, label: string, items: { label: string; value: number; text: string }[]): Html {
  if (items.length === 0) return html`<p class="muted">No expenses in this month yet.</p>`;
  const max = Math.max(...items.map((i) => i.value));
  const rowH = 28;
  const width = 440;
  const labelW = 120;
  const valueW = 90;
  const barMax = width - labelW - valueW;
  const h = items.length * rowH + 4;
  return html`<svg data-testid="${id}" role="img" aria-label="${label}" viewBox="0 0 ${width} ${h}" width="100%" height="${h}">
<title>${label}</title>${items.map((it, i) => {
    const w = Math.max(2, Math.round((it.value / max) * barMax));
    const y = i * rowH + 4;
    return html`<g><text class="bar-label" x="0" y="${y + 15}">${it.label.length > 16 ? it.label.slice(0, 15) + '…' : it.label}</text>
<rect x="${labelW}" y="${y}" width="${w}" height="20" rx="3" fill="#2f6fde"><title>${it.label}: ${it.text}</title></rect>
<text class="bar-label" x="${labelW + w + 6}" y="${y + 15}">${it.text}</text></g>`;
  })}</svg>`;
}

/** Column chart (SVG) of spending per day of the month. */
function dayChart(month: string, days: { date: string; totalCents: number }[], currency: string): Html {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const n = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const byDay = new Map(days.map((d) => [Number(d.date.slice(8, 10)), d.totalCents]));
  const max = Math.max(1, ...days.map((d) => d.totalCents));
  const width = 620;
  const height = 160;
  const colW = width / n;
  const cols: Html[] = [];
  for (let d = 1; d <= n; d++) {
    const v = byDay.get(d) ?? 0;
    const h = v === 0 ? 0 : Math.max(2, Math.round((v / max) * (height - 24)));
    cols.push(
      html`<rect x="${(d - 1) * colW + 1}" y="${height - 16 - h}" width="${Math.max(1, colW - 2)}" height="${h}" fill="#16a34a"><title>${month}-${String(d).padStart(2, '0')}: ${formatMoney(v, currency)}</title></rect>`,
    );
    if (d === 1 || d % 5 === 0) cols.push(html`<text class="bar-label" x="${(d - 1) * colW + 1}" y="${height - 2}">${d}</text>`);
  }
  return html`<svg data-testid="chart-day" role="img" aria-label="Spending by day" viewBox="0 0 ${width} ${height}" width="100%" height="${height}"><title>Spending by day</title>${cols}</svg>`;
}

interface DashboardData {
  month: string;
  settings: Settings;
  aggregates: MonthAggregates;
  recent: Expense[];
}

export function dashboardPage(ctx: PageContext, d: DashboardData): Html {
  const cur = d.settings.currency;
  const total = d.aggregates.totals.find((t) => t.currency === cur)?.totalCents ?? 0;
  const others = d.aggregates.totals.filter((t) => t.currency !== cur);
  const limit = d.settings.monthlyLimitCents;
  const pct = limit ? Math.round((total * 100) / limit) : 0;
  const cats = d.aggregates.byCategory
    .filter((c) => c.currency === cur)
    .sort((a, b) => b.totalCents - a.totalCents || a.category.localeCompare(b.category))
    .map((c) => ({ label: c.category, value: c.totalCents, text: formatMoney(c.totalCents, cur) }));
  const days = d.aggregates.byDay.filter((x) => x.currency === cur);
  return layout(
    ctx,
    html`<h1>Dashboard <span class="muted">${d.month}</span></h1>
<div class="grid">
<div class="card"><div class="muted">Spent this month</div><div class="stat" data-testid="month-total">${formatMoney(total, cur)}</div>
${others.map((o) => html`<div class="muted">+ ${formatMoney(o.totalCents, o.currency)}</div>`)}</div>
<div class="card"><div class="muted">Remaining budget</div>${
      limit
        ? html`<div class="stat" data-testid="remaining">${formatMoney(limit - total, cur)}</div>
<svg class="progress" viewBox="0 0 100 10" preserveAspectRatio="none" width="100%" height="10" role="img" aria-label="${pct}% of budget used"><rect width="100" height="10" fill="#e4e7eb"/><rect width="${Math.min(100, pct)}" height="10" fill="${pct >= 100 ? '#c81e1e' : pct >= 80 ? '#d97706' : '#16a34a'}"/></svg>
<div class="muted">${pct}% of ${formatMoney(limit, cur)}</div>`
        : html`<div class="stat" data-testid="remaining">—</div><div class="muted"><a href="/settings">Set a monthly limit</a></div>`
    }</div></div>
<div class="grid">
<div class="card"><h2>By category</h2>${barChart('chart-category', 'Spending by category', cats)}</div>
<div class="card"><h2>By day</h2>${dayChart(d.month, days, cur)}</div></div>
<div class="card"><h2>Recent expenses</h2>${expenseTable(ctx, d.recent, false)}<p><a href="/expenses">All expenses</a></p></div>`,
  );
}

function expenseTable(ctx: PageContext, rows: Expense[], actions: boolean): Html {
  if (rows.length === 0) return html`<p class="muted">No expenses.</p>`;
  return html`<table data-testid="expenses"><thead><tr><th>Date</th><th>Category</th><th>Description</th><th class="num">Amount</th>${actions ? html`<th></th>` : ''}</tr></thead><tbody>
${rows.map(
  (e) => html`<tr><td>${e.date}</td><td>${e.category}</td><td>${e.description}</td><td class="num">${formatMoney(e.amountCents, e.currency)}</td>${
    actions
      ? html`<td><a href="/expenses/${e.id}/edit">Edit</a> <form method="post" action="/expenses/${e.id}/delete" class="inline-form">${csrfField(ctx)}<button class="link" type="submit">Delete</button></form></td>`
      : ''
  }</tr>`,
)}</tbody></table>`;
}

export interface ExpenseFormValues {
  amount: string;
  currency: string;
  category: string;
  description: string;
  date: string;
}

function expenseFields(v: ExpenseFormValues): Html {
  return html`<label>Amount <input name="amount" inputmode="decimal" value="${v.amount}" required placeholder="12.50"></label>
<label>Currency <input name="currency" value="${v.currency}" required maxlength="3" size="4" pattern="[A-Za-z]{3}"></label>
<label>Category <input name="category" value="${v.category}" required maxlength="40" list="categories"></label>
<label>Description <input name="description" value="${v.description}" maxlength="500"></label>
<label>Date <input type="date" name="date" value="${v.date}" required></label>
<datalist id="categories"><option value="Groceries"><option value="Rent"><option value="Transport"><option value="Eating out"><option value="Utilities"><option value="Leisure"></datalist>`;
}

export function expensesPage(ctx: PageContext, month: string, rows: Expense[], form: ExpenseFormValues): Html {
  return layout(
    ctx,
    html`<h1>Expenses</h1>
<div class="card"><form class="inline" method="get" action="/expenses"><label>Month <input type="month" name="month" value="${month}"></label><button class="primary" type="submit">Show</button></form></div>
<div class="card"><h2>Add an expense</h2><form class="inline" method="post" action="/expenses" data-testid="add-expense">${csrfField(ctx)}${expenseFields(form)}<button class="primary" type="submit">Add</button></form></div>
<div class="card"><h2>${month}</h2>${expenseTable(ctx, rows, true)}</div>`,
  );
}

export function editExpensePage(ctx: PageContext, id: string, form: ExpenseFormValues): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Edit expense</h1><form class="stack" method="post" action="/expenses/${id}">${csrfField(ctx)}${expenseFields(form)}
<button class="primary" type="submit">Save</button></form><p><a href="/expenses">Back</a></p></div>`,
  );
}

export function expenseToForm(e: Expense): ExpenseFormValues {
  return { amount: centsToDecimal(e.amountCents, e.currency), currency: e.currency, category: e.category, description: e.description, date: e.date };
}

export function settingsPage(ctx: PageContext, v: { limit: string; currency: string; alertEmail: string }): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Settings</h1><form class="stack" method="post" action="/settings">${csrfField(ctx)}
<label>Monthly limit (empty for none) <input name="limit" inputmode="decimal" value="${v.limit}" placeholder="500.00"></label>
<label>Currency of the limit <input name="currency" value="${v.currency}" required maxlength="3" pattern="[A-Za-z]{3}"></label>
<label>Alert email (empty: your account email) <input type="email" name="alertEmail" value="${v.alertEmail}" maxlength="254"></label>
<button class="primary" type="submit">Save</button></form>
<p class="muted">You get one email when this month's spending reaches 80&nbsp;% of the limit and one at 100&nbsp;%.</p></div>`,
  );
}

export function customersPage(ctx: PageContext, rows: { email: string; isAdmin: boolean; createdAt: string; expenseCount: number }[]): Html {
  return layout(
    ctx,
    html`<h1>Customers</h1><div class="card"><table data-testid="customers"><thead><tr><th>Email</th><th>Registered</th><th>Role</th><th class="num">Expenses</th></tr></thead><tbody>
${rows.map((r) => html`<tr><td>${r.email}</td><td>${r.createdAt.slice(0, 10)}</td><td>${r.isAdmin ? 'admin' : 'user'}</td><td class="num">${r.expenseCount}</td></tr>`)}
</tbody></table></div>`,
  );
}

export function errorPage(ctx: PageContext, status: number, message: string): Html {
  return layout({ ...ctx, error: undefined }, html`<div class="card"><h1>${status}</h1><p data-testid="error">${message}</p><p><a href="/">Home</a></p></div>`);
}

