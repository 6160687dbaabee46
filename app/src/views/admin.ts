/** Administrator pages. */
import { html, type Html } from '../html.js';
import { dateIn } from '../calendar.js';
import type { Customer, Page } from '../repo.js';
import { layout, pager, type PageContext } from './layout.js';

export function customersPage(ctx: PageContext, page: Page<Customer>): Html {
  const tz = ctx.user?.timeZone ?? 'UTC';
  return layout(
    ctx,
    html`<h1>Customers</h1><div class="card"><table data-testid="customers"><thead><tr><th>Email</th><th>Registered</th><th>Role</th><th>Email verified</th><th class="num">Expenses</th></tr></thead><tbody>
${page.items.map(
  (r) => html`<tr><td>${r.email}</td><td>${dateIn(tz, r.createdAt)}</td><td>${r.isAdmin ? 'admin' : 'user'}</td><td>${r.emailVerified ? 'yes' : 'no'}</td><td class="num">${r.expenseCount}</td></tr>`,
)}
</tbody></table>${pager(page, (p) => `/customers?page=${p}`, 'accounts')}</div>`,
  );
}
