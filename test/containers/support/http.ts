/**
 * A minimal browser-like HTTP client for the app's server-rendered pages: keeps cookies, reads
 * the `_csrf` hidden field the app puts in every form (@fastify/csrf-protection, double-submit
 * with a signed `_csrf` cookie) and never follows redirects, so tests can assert them.
 */
export interface HttpResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

export class PageClient {
  readonly cookies = new Map<string, string>();
  constructor(readonly baseUrl: string) {}

  async request(method: string, path: string, form?: Record<string, string>): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(this.baseUrl + path, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0]!;
      const i = pair.indexOf('=');
      const value = pair.slice(i + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(pair.slice(0, i));
      else this.cookies.set(pair.slice(0, i), value);
    }
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  get(path: string): Promise<HttpResponse> {
    return this.request('GET', path);
  }

  /** GETs `pagePath`, takes its form's CSRF token and POSTs `form` to `action`. */
  async submit(pagePath: string, action: string, form: Record<string, string>): Promise<HttpResponse> {
    const page = await this.get(pagePath);
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
    if (!token) throw new Error(`no CSRF token in the form on ${pagePath} (HTTP ${page.status})`);
    return this.request('POST', action, { ...form, _csrf: token });
  }
}

/** Password every test user gets. */
export const TEST_PASSWORD = 'correct horse battery staple';

/**
 * Logs `email` in on a new client.
 * @throws Error unless the app redirects to /dashboard.
 */
export async function logIn(baseUrl: string, email: string): Promise<PageClient> {
  const c = new PageClient(baseUrl);
  const login = await c.submit('/login', '/login', { email, password: TEST_PASSWORD });
  if (login.status !== 303 || login.headers.get('location') !== '/dashboard') throw new Error(`POST /login: HTTP ${login.status} → ${login.headers.get('location')}`);
  return c;
}

/**
 * Register → log in → add one expense → read the dashboard, asserting each redirect.
 * @returns the dashboard HTML and the logged-in client.
 * @throws Error naming the step that did not answer as the app does.
 */
export async function registerAddExpenseDashboard(
  baseUrl: string,
  email: string,
  expense: { amount: string; category: string; description: string; date: string },
): Promise<{ html: string; client: PageClient }> {
  const reg = await new PageClient(baseUrl).submit('/register', '/register', { email, password: TEST_PASSWORD });
  if (reg.status !== 303) throw new Error(`POST /register: HTTP ${reg.status} ${reg.text.slice(0, 300)}`);
  const c = await logIn(baseUrl, email);
  const add = await c.submit('/expenses', '/expenses', { ...expense, currency: 'USD' });
  if (add.status !== 303) throw new Error(`POST /expenses: HTTP ${add.status} ${add.text.slice(0, 300)}`);
  const dash = await c.get(`/dashboard?month=${expense.date.slice(0, 7)}`);
  if (dash.status !== 200) throw new Error(`GET /dashboard: HTTP ${dash.status}`);
  return { html: dash.text, client: c };
}
