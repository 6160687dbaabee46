/**
 * Traffic through a real-node cluster's Ingress controller from the host, as a user's browser
 * sends it: to INGRESS_URL (`http://127.0.0.1:<port>`) with the environment's Ingress host in the
 * Host header. Plain HTTP requests (node:http, so the Host header is ours to set), a steady load
 * generator that counts failures, and a headless Chromium (playwright-core, Debian's
 * /usr/bin/chromium) that resolves the host to 127.0.0.1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { addExpense, logIn, register } from '../../app/test/pages.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** GET `path` through the Ingress with `Host: <host>`; resolves status and body. */
export function ingressGet(ingressUrl: string, host: string, path: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  const url = new URL(ingressUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers: { host }, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export interface LoadResult {
  requests: number;
  failures: { status: number | string; at: number; body?: string }[];
}

/**
 * Sends `concurrency` back-to-back GET streams of `path` until `stop()`; a non-2xx answer or a
 * transport error is a failure.
 */
export function steadyLoad(ingressUrl: string, host: string, path: string, concurrency = 4): { stop: () => Promise<LoadResult> } {
  let running = true;
  const result: LoadResult = { requests: 0, failures: [] };
  const worker = async () => {
    while (running) {
      try {
        const r = await ingressGet(ingressUrl, host, path, 15_000);
        result.requests += 1;
        if (r.status < 200 || r.status >= 300) result.failures.push({ status: r.status, at: Date.now(), body: r.body.slice(0, 300) });
      } catch (error) {
        result.requests += 1;
        result.failures.push({ status: error instanceof Error ? error.message : String(error), at: Date.now() });
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return result;
    },
  };
}

export interface BrowserFlowResult {
  /** `[data-testid=month-total]` on the dashboard after adding the expenses. */
  monthTotal: string | null;
  /** Descriptions listed on the expenses page. */
  descriptions: string[];
}

/**
 * Headless Chromium through the Ingress: register `email`, log in, add `expenses` this month,
 * read the dashboard total. The browser resolves `host` to 127.0.0.1, so it sends the Host
 * header the Ingress rule expects.
 * @throws Error (from playwright) naming the step whose page did not behave.
 */
export async function browserFlow(ingressUrl: string, host: string, email: string, expenses: { amount: string; category: string; description: string }[]): Promise<BrowserFlowResult> {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-ingress-'));
  const port = new URL(ingressUrl).port;
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      '--disable-dev-shm-usage', `--host-resolver-rules=MAP ${host} 127.0.0.1`],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
    const base = `http://${host}:${port}`;
    const month = new Date().toISOString().slice(0, 7);
    const password = 'a long ingress password';
    await register(page, base, email, password);
    await logIn(page, email, password);
    for (const e of expenses) await addExpense(page, base, { ...e, date: `${month}-01` });
    const descriptions = await page.locator('table[data-testid=expenses] tbody tr td:nth-child(3)').allTextContents().catch(() => []);
    await page.goto(`${base}/dashboard`);
    return { monthTotal: await page.textContent('[data-testid=month-total]'), descriptions };
  } finally {
    await context.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  }
}
