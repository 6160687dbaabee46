/**
 * End to end in Debian's Chromium (headless, driven by playwright-core): register, log in, add
 * three expenses in two categories, check the dashboard's total and chart, log out.
 * Screenshot: app/test-results/dashboard.png (git-ignored).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness.js';

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
  it('register -> log in -> add three expenses -> dashboard total and chart -> log out', async () => {
    const context = await chromium.launchPersistentContext(profile, {
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
      const month = new Date().toISOString().slice(0, 7);

      await page.goto(`${base}/register`);
      await page.fill('input[name=email]', 'browser@example.com');
      await page.fill('input[name=password]', 'a long browser password');
      await Promise.all([page.waitForURL(/\/login\?registered=1$/), page.click('button[type=submit]')]);
      expect(await page.locator('.flash').count()).toBe(1);

      await page.fill('input[name=email]', 'browser@example.com');
      await page.fill('input[name=password]', 'a long browser password');
      await Promise.all([page.waitForURL(/\/dashboard$/), page.click('main button[type=submit]')]);
      expect(await page.textContent('[data-testid=month-total]')).toBe('$0.00');

      await page.goto(`${base}/settings`);
      await page.fill('input[name=limit]', '100');
      await Promise.all([page.waitForURL(/\/settings\?saved=1$/), page.click('main button[type=submit]')]);

      const expenses = [
        { amount: '12.50', category: 'Groceries', description: 'Vegetables', day: '03' },
        { amount: '30', category: 'Groceries', description: 'Weekly shop', day: '05' },
        { amount: '7.25', category: 'Transport', description: 'Bus pass', day: '05' },
      ];
      for (const e of expenses) {
        await page.goto(`${base}/expenses`);
        const form = page.locator('form[data-testid=add-expense]');
        await form.locator('input[name=amount]').fill(e.amount);
        await form.locator('input[name=category]').fill(e.category);
        await form.locator('input[name=description]').fill(e.description);
        await form.locator('input[name=date]').fill(`${month}-${e.day}`);
        await Promise.all([page.waitForURL(/\/expenses\?month=.*saved=1$/), form.locator('button[type=submit]').click()]);
      }
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

      await Promise.all([page.waitForURL(`${base}/`), page.click('[data-testid=logout]')]);
      await page.goto(`${base}/dashboard`);
      expect(new URL(page.url()).pathname).toBe('/login');
    } finally {
      await context.close();
    }
  });
});
