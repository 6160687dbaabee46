/**
 * The app's pages as a user drives them in a browser (playwright-core), shared by the app's own
 * browser test and the cluster tier's walk through the Ingress: each step waits for the page the
 * app answers with, so a step that misbehaves fails with playwright's error naming the selector
 * or URL it waited for.
 */
import type { Page, Response } from 'playwright-core';

/** An expense as the "add expense" form takes it. */
export interface ExpenseInput {
  readonly amount: string;
  readonly category: string;
  readonly description: string;
  /** `YYYY-MM-DD`. */
  readonly date: string;
}

/**
 * Registers `email` on `base` (the app's origin) and waits for the login page it redirects to.
 * @throws Error naming the status when `/register` itself does not load
 */
export async function register(page: Page, base: string, email: string, password: string): Promise<void> {
  const answer = await page.goto(`${base}/register`);
  if (!answer?.ok()) throw new Error(`GET ${base}/register: HTTP ${answer?.status()} ${(await answer?.text().catch(() => ''))?.slice(0, 300)}`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(/\/login\?registered=1$/), page.click('button[type=submit]')]);
}

/**
 * Logs in on the login page the browser shows and waits for the dashboard.
 * @throws Error with the URL, status and text of the page the browser stayed on (a login
 *   refused, throttled or answered 503) when the dashboard does not load.
 */
export async function logIn(page: Page, email: string, password: string): Promise<void> {
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  let status: number | undefined;
  const seen = (r: Response) => {
    if (r.request().isNavigationRequest()) status = r.status();
  };
  page.on('response', seen);
  try {
    await Promise.all([page.waitForURL(/\/dashboard$/), page.click('main button[type=submit]')]);
  } catch (err) {
    const text = await page.locator('main').innerText({ timeout: 1_000 }).catch(() => '');
    throw new Error(`login of ${email} did not reach the dashboard: at ${page.url()} (last navigation HTTP ${status ?? 'none'}): ${text.replace(/\s+/g, ' ').slice(0, 300)}`, { cause: err });
  } finally {
    page.off('response', seen);
  }
}

/** Adds one expense through the expenses page and waits for the saved confirmation. */
export async function addExpense(page: Page, base: string, expense: ExpenseInput): Promise<void> {
  await page.goto(`${base}/expenses`);
  const form = page.locator('form[data-testid=add-expense]');
  await form.locator('input[name=amount]').fill(expense.amount);
  await form.locator('input[name=category]').fill(expense.category);
  await form.locator('input[name=description]').fill(expense.description);
  await form.locator('input[name=date]').fill(expense.date);
  await Promise.all([page.waitForURL(/\/expenses\?month=.*saved=1$/), form.locator('button[type=submit]').click()]);
}
