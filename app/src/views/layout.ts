/**
 * The page layout, shared form pieces, the pager, and the two static assets (stylesheet and the
 * small script that reads the browser's time zone; the CSP allows no inline script or style).
 * Every dynamic value goes through the escaping {@link html} template.
 */
import { html, type Html } from '../html.js';
import type { User } from '../repo.js';

export interface PageContext {
  user: User | null;
  csrfToken: string;
  title: string;
  flash?: string | undefined;
  error?: string | undefined;
  /** Show a notice that signing in and data are unavailable for a moment: PostgreSQL is unreachable, or every connection is busy (overload). */
  degraded?: 'unavailable' | 'busy' | undefined;
}

/** The stylesheet, served at `/static/app.css`. */
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
.notice { background:#fff7e0; border:1px solid #f0c36d; padding:.6rem 1rem; border-radius:6px; margin-bottom:1rem; }
form.stack { display:grid; gap:.6rem; max-width:420px; }
form.inline { display:flex; flex-wrap:wrap; gap:.5rem; align-items:end; }
label { display:grid; gap:.2rem; font-size:.9rem; }
label.check { display:flex; gap:.4rem; align-items:center; }
input, select { padding:.45rem .5rem; border:1px solid #cbd2d9; border-radius:4px; font:inherit; }
button.primary { background:var(--accent); color:#fff; border:0; border-radius:4px; padding:.5rem 1rem; font:inherit; cursor:pointer; }
button.danger { background:var(--bad); color:#fff; border:0; border-radius:4px; padding:.5rem 1rem; font:inherit; cursor:pointer; }
button.secondary { background:#fff; color:var(--fg); border:1px solid #cbd2d9; border-radius:4px; padding:.45rem .9rem; font:inherit; cursor:pointer; }
button.link { background:none; border:0; color:var(--bad); cursor:pointer; padding:0; font:inherit; }
table { width:100%; border-collapse:collapse; }
th, td { text-align:left; padding:.4rem .5rem; border-bottom:1px solid #e4e7eb; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.bar-label { font-size:12px; fill:#323f4b; }
.plans { display:grid; grid-template-columns:repeat(auto-fit, minmax(220px, 1fr)); gap:1rem; }
.plan h2 { margin:.2rem 0; }
.price { font-size:1.6rem; font-weight:700; }
.progress { height:10px; background:#e4e7eb; border-radius:5px; overflow:hidden; }
nav.pager, nav.months { display:flex; gap:1rem; align-items:center; margin-top:.75rem; }
.scroll { overflow-x:auto; }
.bad { color:var(--bad); }
progress { width:100%; }
nav.months { margin:0 0 1rem; flex-wrap:wrap; }
`;

/**
 * Served at `/static/app.js`: fills `input[data-browser-time-zone]` with the browser's IANA time
 * zone when empty (registration) and reveals `[data-browser-time-zone-button]` buttons that set
 * the select named by `data-target` to it (settings). Pages work without it (UTC by default).
 */
export const SCRIPT = `(function () {
  var tz;
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!tz) return;
  document.querySelectorAll('input[data-browser-time-zone]').forEach(function (el) { if (!el.value) el.value = tz; });
  document.querySelectorAll('button[data-browser-time-zone-button]').forEach(function (button) {
    var select = document.getElementById(button.getAttribute('data-target'));
    if (!select) return;
    button.hidden = false;
    button.textContent = 'Use this browser\\u2019s time zone (' + tz + ')';
    button.addEventListener('click', function () { select.value = tz; });
  });
})();
`;

/** The page frame (head, navigation, messages) around `body`. */
export function layout(ctx: PageContext, body: Html): Html {
  const nav = ctx.user
    ? html`<a href="/dashboard">Dashboard</a><a href="/expenses">Expenses</a><a href="/imports">Import</a><a href="/settings">Settings</a><a href="/account">Account</a>
        ${ctx.user.isAdmin ? html`<a href="/customers">Customers</a>` : ''}
        <form method="post" action="/logout">${csrfField(ctx)}
        <button type="submit" data-testid="logout">Log out</button></form>`
    : html`<a href="/pricing">Pricing</a><a href="/login">Log in</a><a href="/register">Register</a>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${ctx.title} · Expense Tracker</title><link rel="stylesheet" href="/static/app.css"><script src="/static/app.js" defer></script></head>
<body><header><nav><a class="brand" href="/">Expense Tracker</a>${nav}</nav></header>
<main>${
    ctx.degraded === 'unavailable'
      ? html`<div class="notice" role="status" data-testid="degraded">We cannot reach our database right now, so signing in and your data are unavailable for a moment. Public pages still work.</div>`
      : ctx.degraded === 'busy'
        ? html`<div class="notice" role="status" data-testid="busy">We are very busy right now, so signing in and your data may take a few tries. Public pages still work.</div>`
        : ''
  }${ctx.flash ? html`<div class="flash" role="status">${ctx.flash}</div>` : ''}${
    ctx.error ? html`<div class="error" role="alert" data-testid="error">${ctx.error}</div>` : ''
  }${body}</main></body></html>`;
}

export const csrfField = (ctx: PageContext) => html`<input type="hidden" name="_csrf" value="${ctx.csrfToken}">`;

/**
 * Previous/next links of a paginated list: `href(page)` builds each link. Shows which rows are
 * on screen out of how many, so a list is never silently cut off.
 */
export function pager(p: { page: number; limit: number; total: number }, href: (page: number) => string, noun: string): Html {
  const pages = Math.max(1, Math.ceil(p.total / p.limit));
  const first = p.total === 0 ? 0 : (p.page - 1) * p.limit + 1;
  const last = Math.min(p.total, p.page * p.limit);
  return html`<nav class="pager" aria-label="Pages" data-testid="pager">
${p.page > 1 ? html`<a rel="prev" href="${href(Math.min(p.page - 1, pages))}">← Previous</a>` : ''}
<span class="muted">${first}–${last} of ${p.total} ${noun} · page ${p.page} of ${pages}</span>
${p.page < pages ? html`<a rel="next" href="${href(p.page + 1)}">Next →</a>` : ''}</nav>`;
}
