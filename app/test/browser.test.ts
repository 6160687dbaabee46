/**
 * End to end in Debian's Chromium (headless, driven by playwright-core): register (the browser's
 * time zone is taken), log in, add three expenses in two categories, check the dashboard's total
 * and chart, switch months back and forth, log out, reset the forgotten password through the
 * emailed link, log in with the new one.
 * Screenshots: app/test-results/dashboard.png, dashboard-previous-month.png (git-ignored).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dateIn, monthIn, addMonths } from '../src/calendar.js';
import { startStack, type Stack } from './harness.js';
import { addExpense, logIn, register } from './pages.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RESULTS = fileURLToPath(new URL('../test-results/', import.meta.url));

let stack: Stack;
let browser: Browser | undefined;
let profile: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium package`);
  stack = await startStack();
  profile = await mkdtemp(path.join(tmpdir(), 'chromium-profile-'));
});
afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await stack?.stop();
  if (profile) await rm(profile, { recursive: true, force: true });
});

describe('browser', () => {
  it('register -> log in -> add three expenses -> dashboard total and chart -> switch months -> log out -> reset password -> log in', async () => {
    const zone = 'Asia/Tokyo';
    const context = await chromium.launchPersistentContext(profile, {
      timezoneId: zone,
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
      viewport: { width: 1100, height: 900 },
    });
    browser = context.browser() ?? undefined;
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      page.setDefaultTimeout(15_000);
      const base = stack.baseUrl;
      const month = monthIn(zone); // the browser's clock, not the server's UTC

      await register(page, base, 'browser@example.com', 'a long browser password');
      expect(await page.locator('.flash').count()).toBe(1);

      await logIn(page, 'browser@example.com', 'a long browser password');
      expect(await page.textContent('[data-testid=month-total]')).toBe('$0.00');
      expect(await page.textContent('[data-testid=dashboard-month]')).toBe(month);

      await page.goto(`${base}/settings`);
      expect(await page.inputValue('select[name=timeZone]')).toBe(zone); // taken from the browser at registration
      await page.fill('input[name=limit]', '100');
      await Promise.all([page.waitForURL(/\/settings\?saved=1$/), page.click('main button[type=submit]')]);

      const expenses = [
        { amount: '12.50', category: 'Groceries', description: 'Vegetables', day: '03' },
        { amount: '30', category: 'Groceries', description: 'Weekly shop', day: '05' },
        { amount: '7.25', category: 'Transport', description: 'Bus pass', day: '05' },
      ];
      for (const { day, ...e } of expenses) await addExpense(page, base, { ...e, date: `${month}-${day}` });
      expect(await page.locator('table[data-testid=expenses] tbody tr').count()).toBe(3);

      await page.goto(`${base}/dashboard`);
      expect(await page.textContent('[data-testid=month-total]')).toBe('$49.75');
      expect(await page.textContent('[data-testid=remaining]')).toBe('$50.25');
      const bars = page.locator('svg[data-testid=chart-category] rect');
      expect(await bars.count()).toBe(2);
      const titles = await page.locator('svg[data-testid=chart-category] rect title').allTextContents();
      expect(titles).toEqual(['Groceries: $42.50', 'Transport: $7.25']);
      const widths = await bars.evaluateAll((els) => els.map((el) => Number(el.getAttribute('width'))));
      expect(widths[0]!).toBeGreaterThan(widths[1]!);
      expect(await page.locator('svg[data-testid=chart-day] rect[height]:not([height="0"])').count()).toBe(2);
      const box = await page.locator('svg[data-testid=chart-category]').boundingBox();
      expect(box!.height).toBeGreaterThan(40); // rendered, not collapsed by CSS
      await mkdir(RESULTS, { recursive: true });
      await page.screenshot({ path: path.join(RESULTS, 'dashboard.png'), fullPage: true });
      expect(await page.locator(`svg[data-testid=chart-months] rect[data-month="${month}"]`).getAttribute('height')).not.toBe('0');

      // month switching: back one month (empty), forward again, then through the month field
      const previous = addMonths(month, -1);
      await Promise.all([page.waitForURL(`${base}/dashboard?month=${previous}`), page.click('[data-testid=previous-month]')]);
      expect(await page.textContent('[data-testid=dashboard-month]')).toBe(previous);
      expect(await page.textContent('[data-testid=month-total]')).toBe('$0.00');
      await page.screenshot({ path: path.join(RESULTS, 'dashboard-previous-month.png'), fullPage: true });
      await Promise.all([page.waitForURL(`${base}/dashboard?month=${month}`), page.click('[data-testid=next-month]')]);
      expect(await page.textContent('[data-testid=month-total]')).toBe('$49.75');
      expect(await page.locator('[data-testid=next-month]').count()).toBe(0); // no future months
      // a column label of the twelve-month chart opens that month
      await Promise.all([
        page.waitForURL(`${base}/dashboard?month=${previous}`),
        page.locator(`svg[data-testid=chart-months] a[href="/dashboard?month=${previous}"] text`).first().click(),
      ]);
      expect(await page.textContent('[data-testid=dashboard-month]')).toBe(previous);
      // and the month field goes anywhere
      await page.fill('[data-testid=month-switcher] input[name=month]', month);
      await Promise.all([page.waitForURL(`${base}/dashboard?month=${month}`), page.click('[data-testid=month-switcher] button[type=submit]')]);
      expect(await page.textContent('[data-testid=month-total]')).toBe('$49.75');
      await page.goto(`${base}/expenses`);
      expect(await page.inputValue('form[data-testid=add-expense] input[name=date]')).toBe(dateIn(zone)); // today, in the browser's zone

      await Promise.all([page.waitForURL(`${base}/`), page.click('[data-testid=logout]')]);
      await page.goto(`${base}/dashboard`);
      expect(new URL(page.url()).pathname).toBe('/login');

      // forgotten password: request a link, follow it from the email, choose a new password
      await Promise.all([page.waitForURL(`${base}/password/forgot`), page.click('text=Forgot your password?')]);
      await page.fill('input[name=email]', 'browser@example.com');
      await page.click('main button[type=submit]');
      await page.waitForSelector('.flash');
      expect(await page.textContent('.flash')).toContain('If an account exists for browser@example.com');
      const link = await stack.sendgrid.linkFor('browser@example.com', /Reset your/, 'http://127.0.0.1');
      await page.goto(`${base}${link}`);
      await page.fill('input[name=password]', 'an entirely new browser passphrase');
      await Promise.all([page.waitForURL(`${base}/login?reset=1`), page.click('main button[type=submit]')]);
      expect(await page.textContent('.flash')).toContain('Your password was changed');
      await page.fill('input[name=email]', 'browser@example.com');
      await page.fill('input[name=password]', 'a long browser password');
      await page.click('main button[type=submit]');
      expect(await page.textContent('[data-testid=error]')).toContain('Invalid email or password');
      await page.fill('input[name=password]', 'an entirely new browser passphrase');
      await Promise.all([page.waitForURL(/\/dashboard$/), page.click('main button[type=submit]')]);
      expect(await page.textContent('[data-testid=month-total]')).toBe('$49.75');
      // the used link is dead
      await page.goto(`${base}${link}`);
      expect(await page.textContent('[data-testid=error]')).toContain('already used or has expired');
    } finally {
      await context.close();
    }
  });
});
