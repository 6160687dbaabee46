/** The expense list (paginated, with CSV export links), the add and edit forms. */
import { html, type Html } from '../html.js';
import { centsToDecimal, formatMoney } from '../money.js';
import type { Expense, Page } from '../repo.js';
import { csrfField, layout, pager, type PageContext } from './layout.js';

export function expenseTable(ctx: PageContext, rows: Expense[], actions: boolean): Html {
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

export function expensesPage(ctx: PageContext, month: string, page: Page<Expense>, form: ExpenseFormValues): Html {
  return layout(
    ctx,
    html`<h1>Expenses</h1>
<div class="card"><form class="inline" method="get" action="/expenses"><label>Month <input type="month" name="month" value="${month}"></label><button class="primary" type="submit">Show</button></form>
<p class="muted">Export as CSV: <a href="/expenses/export?month=${month}" data-testid="export-month">${month}</a> · <a href="/expenses/export?month=all" data-testid="export-all">everything</a></p></div>
<div class="card"><h2>Add an expense</h2><form class="inline" method="post" action="/expenses" data-testid="add-expense">${csrfField(ctx)}${expenseFields(form)}<button class="primary" type="submit">Add</button></form></div>
<div class="card"><h2>${month}</h2>${expenseTable(ctx, page.items, true)}${pager(page, (p) => `/expenses?month=${month}&page=${p}`, 'expenses')}</div>`,
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
