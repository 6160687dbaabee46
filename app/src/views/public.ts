/** Pages anyone can see without a database: landing, pricing, error pages. */
import { html, type Html } from '../html.js';
import { layout, type PageContext } from './layout.js';

export function landingPage(ctx: PageContext): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Know where your money goes</h1>
<p>Record expenses in any currency, set a monthly budget and get an email when you reach 80&nbsp;% and 100&nbsp;% of it.</p>
<p>${ctx.user ? html`<a href="/dashboard">Go to your dashboard</a>` : html`<a href="/register">Create a free account</a> or <a href="/login">log in</a>.`}</p></div>
<div class="grid"><div class="card"><h2>Track</h2><p>Add, edit and delete expenses by category and date.</p></div>
<div class="card"><h2>See</h2><p>Monthly totals, spending by category, by day and over the last twelve months.</p></div>
<div class="card"><h2>Stay on budget</h2><p>Alerts by email before you overspend.</p></div></div>`,
  );
}

export function pricingPage(ctx: PageContext): Html {
  const plans = [
    { name: 'Free', price: '$0', items: ['Unlimited expenses', 'Monthly budget', 'Email alerts at 80 % and 100 %', 'CSV export'] },
    { name: 'Pro', price: '$4 / month', items: ['Everything in Free', 'Multiple budgets', 'Shared categories'] },
    { name: 'Family', price: '$9 / month', items: ['Everything in Pro', 'Up to 5 members'] },
  ];
  return layout(
    ctx,
    html`<h1>Pricing</h1><div class="plans">${plans.map(
      (p) => html`<div class="card plan"><h2>${p.name}</h2><p class="price">${p.price}</p><ul>${p.items.map((i) => html`<li>${i}</li>`)}</ul></div>`,
    )}</div><p class="muted">Paid plans are not on sale yet: every account is on the Free plan.</p>`,
  );
}

export function errorPage(ctx: PageContext, status: number, message: string): Html {
  const heading = status === 503 ? 'Back in a moment' : String(status);
  return layout(
    { ...ctx, error: undefined },
    html`<div class="card"><h1>${heading}</h1><p data-testid="error">${message}</p><p><a href="/">Home</a></p></div>`,
  );
}
