/**
 * The Import page in Debian's Chromium (headless, playwright-core): pick a statement, check the
 * column-mapping preview, change a column, import it through the queue and a worker, follow the
 * progress to the end, download the rows that could not be imported.
 * Screenshot: app/test-results/import.png (git-ignored).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStagingStore } from '../src/imports/store.js';
import { ImportWorker } from '../src/imports/worker.js';
import { Client, startStack, type Stack } from './harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RESULTS = fileURLToPath(new URL('../test-results/', import.meta.url));

let stack: Stack;
let dir: string;
let worker: ImportWorker;
let context: BrowserContext | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium package`);
  dir = await mkdtemp(path.join(tmpdir(), 'import-browser-'));
  // Everything above 1 KiB goes through the queue and the worker, as large files do.
  stack = await startStack({ env: { IMPORT_STAGING_DIR: path.join(dir, 'staging'), IMPORT_INLINE_MAX_BYTES: '1Ki' } });
  worker = new ImportWorker({ pool: stack.pool, store: new FileStagingStore(path.join(dir, 'staging')), log: pino({ level: 'silent' }), listen: stack.config.postgres, chunkRows: 500 });
  worker.start();
});
afterAll(async () => {
  await context?.close().catch(() => undefined);
  await worker?.stop();
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function statement(): string {
  let s = '\ufeffBuchungstag;Valuta;Auftraggeber/Empfänger;Verwendungszweck;Betrag;Währung;Kategorie\r\n';
  for (let i = 0; i < 3000; i++) {
    const day = String((i % 28) + 1).padStart(2, '0');
    s += `${day}.02.2026;${day}.02.2026;"Markt ${i % 7}";"Einkauf ${i}";-${1 + (i % 50)},${String(i % 100).padStart(2, '0')};EUR;Lebensmittel\r\n`;
  }
  s += '30.02.2026;30.02.2026;"Bad";"date";-1,00;EUR;X\r\n';
  s += '27.02.2026;27.02.2026;"Arbeitgeber";"Gehalt";2.500,00;EUR;Einkommen\r\n';
  return s;
}

describe('Import page', () => {
  it('preview -> change a column -> import with progress -> errors download', async () => {
    const file = path.join(dir, 'kontoauszug.csv');
    await writeFile(file, statement());
    const client = new Client(stack.baseUrl);
    await client.signUp('browser-import@example.com');
    const profile = path.join(dir, 'profile');
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
      viewport: { width: 1200, height: 1000 },
      acceptDownloads: true,
    });
    const base = new URL(stack.baseUrl);
    await context.addCookies([...client.cookies].map(([name, value]) => ({ name, value, domain: base.hostname, path: '/' })));
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    await page.goto(`${stack.baseUrl}/imports`);
    await page.setInputFiles('[data-testid=import-file]', file);
    await page.waitForSelector('[data-testid=import-preview] tbody tr');
    expect(await page.inputValue('#date')).toBe('1');
    expect(await page.inputValue('#amount')).toBe('5');
    expect(await page.inputValue('#delimiter')).toBe(';');
    expect(await page.inputValue('#decimal')).toBe(',');
    expect(await page.inputValue('#dateFormat')).toBe('DD.MM.YYYY');
    const firstRow = page.locator('[data-testid=import-preview] tbody tr').first();
    expect(await firstRow.locator('td').nth(7).textContent()).toBe('2026-02-01');
    expect(await firstRow.locator('td').nth(10).textContent()).toBe('Lebensmittel');
    // Without the category column, rows get the default category.
    await page.selectOption('#category', '');
    await page.locator('[data-testid=import-preview] tbody tr').first().locator('td').nth(10).filter({ hasText: /^Uncategorized$/ }).waitFor();

    await page.click('[data-testid=import-start]');
    await page.locator('[data-testid=import-message]').filter({ hasText: /^Done/ }).waitFor({ timeout: 60_000 });
    expect(await page.textContent('[data-testid=import-message]')).toBe(
      'Done: 3000 expenses added, 0 already there, 1 skipped (credits), 1 rows with errors.',
    );
    expect(await page.locator('[data-testid=import-progress]').evaluate((p) => (p as unknown as { value: number }).value)).toBe(1);
    await mkdir(RESULTS, { recursive: true });
    await page.screenshot({ path: path.join(RESULTS, 'import.png'), fullPage: true });
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=import-errors]')]);
    const saved = path.join(dir, 'errors.csv');
    await download.saveAs(saved);
    expect((await readFile(saved, 'utf8')).split('\n')[1]).toMatch(/^3002,"Buchungstag: ""30\.02\.2026"" is not a DD\.MM\.YYYY date/);

    await page.goto(`${stack.baseUrl}/imports`);
    expect(await page.locator('table[data-testid=imports] tbody tr').first().textContent()).toContain('kontoauszug.csv');
    const summary = await client.get('/api/summary?month=2026-02');
    expect(summary.json.totals).toEqual([{ currency: 'EUR', totalCents: expect.any(Number), count: 3000 }]);
    expect(errors).toEqual([]);
  });
});
