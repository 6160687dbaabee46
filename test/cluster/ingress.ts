/**
 * Traffic through a real-node cluster's Ingress controller from the host, as a user's browser
 * sends it: to INGRESS_URL (`http://127.0.0.1:<port>`) with the environment's Ingress host in the
 * Host header. Plain HTTP requests (node:http, so the Host header is ours to set), a steady load
 * generator that counts failures, and a headless Chromium (playwright-core, Debian's
 * /usr/bin/chromium) that resolves the host to 127.0.0.1.
 */
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { addExpense, logIn, register } from '../../app/test/pages.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** GET `path` through the Ingress with `Host: <host>`, no cookies; resolves status and body. */
export async function ingressGet(ingressUrl: string, host: string, path: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  const { status, text } = await new IngressSession(ingressUrl, host).send('GET', path, { timeoutMs });
  return { status, body: text };
}

/** An answer through the Ingress: `json` is the body parsed when it is JSON, else undefined. */
export interface IngressAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json?: any;
}

/** What {@link IngressSession.send} sends: extra headers and at most one body. */
export interface IngressRequest {
  readonly headers?: Record<string, string>;
  /** Sent `application/x-www-form-urlencoded`. */
  readonly form?: Record<string, string>;
  /** Sent `application/json`. */
  readonly json?: unknown;
  /** A string, or a file streamed from disk (its size as Content-Length unless `headers` set one). */
  readonly body?: string | { file: string };
  /** Milliseconds without any answer before the request fails. @default 30000 */
  readonly timeoutMs?: number;
}

/**
 * A user's HTTP session through the Ingress, like a browser without JavaScript: node:http to
 * INGRESS_URL with `host` in the Host header, and the cookies the app sets kept (and dropped when
 * it clears them) between requests.
 */
export class IngressSession {
  private readonly cookies = new Map<string, string>();
  constructor(
    private readonly ingressUrl: string,
    private readonly host: string,
  ) {}

  /** @throws Error on a transport error or no answer within `timeoutMs`. */
  send(method: string, path: string, opts: IngressRequest = {}): Promise<IngressAnswer> {
    const url = new URL(this.ingressUrl);
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const headers: Record<string, string> = { host: this.host };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body = opts.body;
    if (opts.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(opts.form).toString();
    } else if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    }
    if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
    Object.assign(headers, opts.headers);
    if (typeof body === 'object') headers['content-length'] ??= String(statSync(body.file).size);
    return new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
        for (const c of res.headers['set-cookie'] ?? []) {
          const pair = c.split(';')[0]!;
          const i = pair.indexOf('=');
          const value = pair.slice(i + 1);
          if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(pair.slice(0, i));
          else this.cookies.set(pair.slice(0, i), value);
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
      req.on('error', reject);
      if (typeof body === 'object') createReadStream(body.file, { highWaterMark: 1 << 20 }).on('error', reject).pipe(req);
      else req.end(body);
    });
  }

  /**
   * GETs `page`, then posts `form` with the page's CSRF token to `action`, as the page's form does.
   * @throws Error with the page's status and start when it has no CSRF token.
   */
  async submit(page: string, action: string, form: Record<string, string>): Promise<IngressAnswer> {
    const got = await this.send('GET', page);
    const token = /name="_csrf" value="([^"]+)"/.exec(got.text)?.[1];
    if (!token) throw new Error(`no CSRF token on ${page} through the Ingress (HTTP ${got.status}: ${got.text.slice(0, 300)})`);
    return this.send('POST', action, { form: { ...form, _csrf: token } });
  }

  /**
   * Registers `email` (unless `registered`) and logs in.
   * @throws Error with the status and body start unless both redirect as the app does (303).
   */
  async signUp(email: string, password: string, registered = false): Promise<void> {
    if (!registered) {
      const r = await this.submit('/register', '/register', { email, password, timeZone: 'UTC' });
      if (r.status !== 303) throw new Error(`register ${email} through the Ingress: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    }
    const l = await this.submit('/login', '/login', { email, password });
    if (l.status !== 303 || l.headers.location !== '/dashboard') throw new Error(`login ${email} through the Ingress: HTTP ${l.status} ${l.text.slice(0, 300)}`);
  }
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
