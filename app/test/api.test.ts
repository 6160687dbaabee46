/**
 * HTTP tests of every route against real PostgreSQL and Redis: auth and CSRF failures, validation
 * errors, isolation between users, admin-only pages, ops endpoints, headers and escaping.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, expense, startStack, type Stack } from './harness.js';

let stack: Stack;
let alice: Client;
let bob: Client;

beforeAll(async () => {
  stack = await startStack();
  alice = new Client(stack.baseUrl);
  bob = new Client(stack.baseUrl);
  await alice.signUp('alice@example.com');
  await bob.signUp('bob@example.com');
});
afterAll(async () => {
  await stack?.stop();
});

describe('public pages', () => {
  it.each(['/', '/pricing', '/login', '/register'])('%s renders for anonymous visitors', async (path) => {
    const res = await new Client(stack.baseUrl).get(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.text).toContain('<title>');
  });

  it('serves the stylesheet and sets security headers', async () => {
    const css = await new Client(stack.baseUrl).get('/static/app.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    const res = await new Client(stack.baseUrl).get('/');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('strict-transport-security')).toBeNull(); // plain-HTTP base URL
  });

  it('unknown pages are 404 pages, unknown API paths 404 JSON', async () => {
    const c = new Client(stack.baseUrl);
    expect((await c.get('/nope')).status).toBe(404);
    const api = await c.get('/api/nope');
    expect(api.status).toBe(404);
    expect(api.json).toMatchObject({ error: 'not_found' });
  });
});

describe('registration and login', () => {
  it('rejects a bad email or short password with 400 naming the field', async () => {
    const c = new Client(stack.baseUrl);
    const r1 = await c.register('not-an-email', 'long enough pw');
    expect(r1.status).toBe(400);
    expect(r1.text).toContain('email: must be an email address');
    const r2 = await c.register('carol@example.com', 'short');
    expect(r2.status).toBe(400);
    expect(r2.text).toContain('password: must be at least 8 characters');
  });

  it('a second registration of an email (any case) answers like a new one, creates nothing and mails the owner', async () => {
    const fresh = await new Client(stack.baseUrl).register('newcomer@example.com');
    const again = await new Client(stack.baseUrl).register('ALICE@example.com', 'another long passphrase');
    expect(again.status).toBe(fresh.status);
    expect(again.headers.get('location')).toBe(fresh.headers.get('location'));
    expect(await stack.sendgrid.waitFor('alice@example.com', /already have an Expense Tracker account/)).toContain('/password/forgot');
    const rows = await stack.pool.query(`SELECT count(*)::int AS n FROM users WHERE email = 'alice@example.com'`);
    expect(rows.rows[0].n).toBe(1);
    // the original password still works, the attempted one does not
    expect((await new Client(stack.baseUrl).login('alice@example.com', 'another long passphrase')).status).toBe(401);
    expect((await new Client(stack.baseUrl).login('alice@example.com')).status).toBe(303);
  });

  it('sets an HttpOnly, SameSite=Lax session cookie (not Secure on http) and a new id per login', async () => {
    const c = new Client(stack.baseUrl);
    await c.register('dave@example.com');
    const token = await c.csrf('/login');
    const res = await c.request('POST', '/login', { form: { email: 'dave@example.com', password: 'correct horse battery', _csrf: token } });
    expect(res.status).toBe(303);
    const sid = res.headers.getSetCookie().find((s) => s.startsWith('sid='))!;
    expect(sid).toMatch(/HttpOnly/i);
    expect(sid).toMatch(/SameSite=Lax/i);
    expect(sid).not.toMatch(/Secure/i);
    const first = c.cookies.get('sid');
    await c.login('dave@example.com');
    expect(c.cookies.get('sid')).not.toBe(first);
    // the old session no longer works
    const old = new Client(stack.baseUrl);
    old.cookies.set('sid', first!);
    expect((await old.get('/api/expenses')).status).toBe(401);
  });

  it('answers a wrong password with 401 and the same message as an unknown email', async () => {
    const c = new Client(stack.baseUrl);
    const wrong = await c.login('alice@example.com', 'wrong password!');
    const unknown = await c.login('nobody@example.com', 'wrong password!');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.text).toContain('Invalid email or password.');
    expect(unknown.text).toContain('Invalid email or password.');
  });

  it('logout destroys the session server-side', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('frank@example.com');
    const sid = c.cookies.get('sid')!;
    const res = await c.submit('/dashboard', '/logout', {});
    expect(res.status).toBe(303);
    expect(c.cookies.has('sid')).toBe(false);
    const replay = new Client(stack.baseUrl);
    replay.cookies.set('sid', sid);
    expect((await replay.get('/dashboard')).status).toBe(303);
  });
});

describe('CSRF', () => {
  it('rejects state-changing forms without a token, with a wrong token, or without the secret cookie', async () => {
    const missing = await alice.request('POST', '/expenses', { form: { amount: '1', currency: 'USD', category: 'x', date: '2026-03-01' } });
    expect(missing.status).toBe(403);
    expect(missing.text).toContain('CSRF');
    const wrong = await alice.request('POST', '/settings', { form: { limit: '1', currency: 'USD', _csrf: 'forged-token' } });
    expect(wrong.status).toBe(403);
    const token = await alice.csrf('/expenses');
    const noCookie = new Client(stack.baseUrl);
    noCookie.cookies.set('sid', alice.cookies.get('sid')!);
    const cross = await noCookie.request('POST', '/expenses', { form: { amount: '1', currency: 'USD', category: 'x', date: '2026-03-01', _csrf: token } });
    expect(cross.status).toBe(403);
    const anon = await new Client(stack.baseUrl).request('POST', '/login', { form: { email: 'alice@example.com', password: 'correct horse battery' } });
    expect(anon.status).toBe(403);
    expect((await new Client(stack.baseUrl).request('POST', '/logout', { form: {} })).status).toBe(403);
    const after = await alice.request('GET', '/api/expenses?month=2026-03');
    expect(after.json.expenses.filter((e: any) => e.category === 'x')).toEqual([]);
  });

  it('refuses non-JSON writes to the API with 415 (a cross-site form cannot send JSON)', async () => {
    const res = await alice.request('POST', '/api/expenses', { form: { amountCents: '100' } });
    expect(res.status).toBe(415);
    const put = await alice.request('PUT', '/api/budget', { body: 'x', headers: { 'content-type': 'text/plain' } });
    expect(put.status).toBe(415);
  });
});

describe('authentication required', () => {
  it.each([
    ['GET', '/api/expenses'],
    ['POST', '/api/expenses'],
    ['GET', '/api/expenses/00000000-0000-4000-8000-000000000000'],
    ['PATCH', '/api/expenses/00000000-0000-4000-8000-000000000000'],
    ['DELETE', '/api/expenses/00000000-0000-4000-8000-000000000000'],
    ['GET', '/api/summary'],
    ['PUT', '/api/budget'],
  ])('%s %s without a session is 401', async (method, path) => {
    const res = await new Client(stack.baseUrl).request(method, path, method === 'GET' || method === 'DELETE' ? {} : { json: {} });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ error: 'unauthorized' });
  });

  it.each(['/dashboard', '/expenses', '/settings', '/customers', '/expenses/00000000-0000-4000-8000-000000000000/edit'])(
    '%s without a session redirects to /login',
    async (path) => {
      const res = await new Client(stack.baseUrl).get(path);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/login');
    },
  );

  it('a forged (unsigned) session cookie is ignored', async () => {
    const c = new Client(stack.baseUrl);
    c.cookies.set('sid', 'made-up-session-id');
    expect((await c.get('/api/expenses')).status).toBe(401);
  });
});

describe('JSON API', () => {
  it('creates, reads, updates and deletes an expense with the documented status codes', async () => {
    const created = await alice.request('POST', '/api/expenses', { json: expense({ amountCents: 4200, category: 'Rent', date: '2026-03-02' }) });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ amountCents: 4200, currency: 'USD', category: 'Rent', date: '2026-03-02' });
    const id = created.json.id as string;
    expect(created.headers.get('location')).toBe(`/api/expenses/${id}`);

    const got = await alice.get(`/api/expenses/${id}`);
    expect(got.status).toBe(200);
    expect(got.json.id).toBe(id);

    const patched = await alice.request('PATCH', `/api/expenses/${id}`, { json: { amountCents: 4300, description: 'March rent' } });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ amountCents: 4300, description: 'March rent', category: 'Rent', date: '2026-03-02' });

    const list = await alice.get('/api/expenses?month=2026-03');
    expect(list.status).toBe(200);
    expect(list.json.expenses.map((e: any) => e.id)).toContain(id);
    const otherMonth = await alice.get('/api/expenses?month=2026-04');
    expect(otherMonth.json.expenses.map((e: any) => e.id)).not.toContain(id);

    expect((await alice.request('DELETE', `/api/expenses/${id}`)).status).toBe(204);
    expect((await alice.get(`/api/expenses/${id}`)).status).toBe(404);
    expect((await alice.request('DELETE', `/api/expenses/${id}`)).status).toBe(404);
    expect((await alice.get('/api/expenses/not-a-uuid')).status).toBe(404);
  });

  it.each([
    ['negative amount', { amountCents: -5 }, 'amountCents'],
    ['zero amount', { amountCents: 0 }, 'amountCents'],
    ['non-integer amount', { amountCents: 12.5 }, 'amountCents'],
    ['amount as string', { amountCents: '12' }, 'amountCents'],
    ['unknown currency', { currency: 'XYZ' }, 'currency'],
    ['lower-case currency', { currency: 'usd' }, 'currency'],
    ['bad date', { date: '2026-02-30' }, 'date'],
    ['not a date', { date: '14/03/2026' }, 'date'],
    ['10 kB description', { description: 'x'.repeat(10_240) }, 'description'],
    ['empty category', { category: '  ' }, 'category'],
    ['unknown field', { owner: 'bob' }, 'owner'],
  ])('POST rejects %s with 400 naming the field', async (_name, override, field) => {
    const res = await alice.request('POST', '/api/expenses', { json: expense(override) });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: 'validation_failed', field });
  });

  it('rejects malformed JSON and an empty PATCH with 400', async () => {
    const bad = await alice.request('POST', '/api/expenses', { body: '{"amountCents":', headers: { 'content-type': 'application/json' } });
    expect(bad.status).toBe(400);
    const created = await alice.request('POST', '/api/expenses', { json: expense() });
    const empty = await alice.request('PATCH', `/api/expenses/${created.json.id}`, { json: {} });
    expect(empty.status).toBe(400);
    const badPatch = await alice.request('PATCH', `/api/expenses/${created.json.id}`, { json: { amountCents: -1 } });
    expect(badPatch.status).toBe(400);
    expect(badPatch.json.field).toBe('amountCents');
  });

  it('validates the month of /api/summary and /api/expenses', async () => {
    for (const path of ['/api/summary?month=2026-13', '/api/summary?month=march', '/api/expenses?month=2026-3']) {
      const res = await alice.get(path);
      expect(res.status, path).toBe(400);
      expect(res.json.field).toBe('month');
    }
  });

  it('summarizes a month by currency, category and day, with the budget', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('summary@example.com');
    expect((await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: 100_000, currency: 'EUR' } })).status).toBe(200);
    for (const e of [
      expense({ amountCents: 1000, currency: 'EUR', category: 'Food', date: '2026-05-01' }),
      expense({ amountCents: 2500, currency: 'EUR', category: 'Food', date: '2026-05-03' }),
      expense({ amountCents: 700, currency: 'EUR', category: 'Bus', date: '2026-05-03' }),
      expense({ amountCents: 999, currency: 'USD', category: 'Food', date: '2026-05-03' }),
      expense({ amountCents: 5000, currency: 'EUR', category: 'Food', date: '2026-06-01' }),
    ]) {
      expect((await c.request('POST', '/api/expenses', { json: e })).status).toBe(201);
    }
    const s = await c.get('/api/summary?month=2026-05');
    expect(s.status).toBe(200);
    expect(s.json).toMatchObject({
      month: '2026-05',
      currency: 'EUR',
      totalCents: 4200,
      count: 4,
      byCategory: expect.arrayContaining([
        { category: 'Food', totalCents: 3500 },
        { category: 'Bus', totalCents: 700 },
      ]),
      byDay: [
        { date: '2026-05-01', totalCents: 1000 },
        { date: '2026-05-03', totalCents: 3200 },
      ],
      budget: { monthlyLimitCents: 100_000, remainingCents: 95_800, percentUsed: 4.2 },
    });
    expect(s.json.totals).toEqual(
      expect.arrayContaining([
        { currency: 'EUR', totalCents: 4200, count: 3 },
        { currency: 'USD', totalCents: 999, count: 1 },
      ]),
    );
  });

  it('PUT /api/budget validates and can remove the limit', async () => {
    const bad = await alice.request('PUT', '/api/budget', { json: { monthlyLimitCents: -1, currency: 'USD' } });
    expect(bad.status).toBe(400);
    expect(bad.json.field).toBe('monthlyLimitCents');
    const badEmail = await alice.request('PUT', '/api/budget', { json: { monthlyLimitCents: 100, currency: 'USD', alertEmail: 'nope' } });
    expect(badEmail.json.field).toBe('alertEmail');
    const ok = await alice.request('PUT', '/api/budget', { json: { monthlyLimitCents: null, currency: 'JPY' } });
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ monthlyLimitCents: null, currency: 'JPY', alertEmail: null, alertEmailVerified: false });
  });
});

describe('isolation between users', () => {
  it("a user can neither see nor change another user's expenses", async () => {
    const mine = await alice.request('POST', '/api/expenses', { json: expense({ description: 'alice secret', date: '2026-07-07' }) });
    const id = mine.json.id as string;
    expect((await bob.get(`/api/expenses/${id}`)).status).toBe(404);
    expect((await bob.request('PATCH', `/api/expenses/${id}`, { json: { amountCents: 1 } })).status).toBe(404);
    expect((await bob.request('DELETE', `/api/expenses/${id}`)).status).toBe(404);
    const list = await bob.get('/api/expenses?month=2026-07');
    expect(list.json.expenses).toEqual([]);
    expect((await bob.get('/api/summary?month=2026-07')).json.totalCents).toBe(0);
    expect((await bob.get(`/expenses/${id}/edit`)).status).toBe(404);
    const formDelete = await bob.submit('/expenses', `/expenses/${id}/delete`, {});
    expect(formDelete.status).toBe(404);
    const formEdit = await bob.submit('/expenses', `/expenses/${id}`, { amount: '1', currency: 'USD', category: 'x', date: '2026-07-07' });
    expect(formEdit.status).toBe(404);
    // still intact for alice
    const still = await alice.get(`/api/expenses/${id}`);
    expect(still.json).toMatchObject({ amountCents: 1250, description: 'alice secret' });
    expect((await bob.get('/expenses?month=2026-07')).text).not.toContain('alice secret');
  });
});

describe('pages for a logged-in user', () => {
  it('adds, edits and deletes an expense through the forms', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('forms@example.com');
    const add = await c.submit('/expenses', '/expenses', { amount: '19.99', currency: 'usd', category: 'Books', description: 'a novel', date: '2026-08-05' });
    expect(add.status).toBe(303);
    expect(add.headers.get('location')).toBe('/expenses?month=2026-08&saved=1');
    const list = await c.get('/api/expenses?month=2026-08');
    expect(list.json.expenses).toHaveLength(1);
    const e = list.json.expenses[0];
    expect(e).toMatchObject({ amountCents: 1999, currency: 'USD', category: 'Books' });

    const editPage = await c.get(`/expenses/${e.id}/edit`);
    expect(editPage.status).toBe(200);
    expect(editPage.text).toContain('value="19.99"');
    const edit = await c.submit(`/expenses/${e.id}/edit`, `/expenses/${e.id}`, { amount: '25', currency: 'USD', category: 'Books', description: 'two novels', date: '2026-08-06' });
    expect(edit.status).toBe(303);
    expect((await c.get(`/api/expenses/${e.id}`)).json).toMatchObject({ amountCents: 2500, description: 'two novels', date: '2026-08-06' });

    const bad = await c.submit('/expenses', '/expenses', { amount: '-3', currency: 'USD', category: 'Books', date: '2026-08-05' });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('amount: must be a positive amount');
    const badCur = await c.submit('/expenses', '/expenses', { amount: '3', currency: 'ABC', category: 'Books', date: '2026-08-05' });
    expect(badCur.status).toBe(400);
    expect(badCur.text).toContain('currency: must be a known ISO 4217');

    const page = await c.get('/expenses?month=2026-08');
    expect(page.text).toContain('two novels');
    const del = await c.submit('/expenses?month=2026-08', `/expenses/${e.id}/delete`, {});
    expect(del.status).toBe(303);
    expect((await c.get(`/api/expenses/${e.id}`)).status).toBe(404);
  });

  it('escapes user content in pages', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('xss@example.com');
    await c.request('POST', '/api/expenses', { json: expense({ category: '<script>alert(1)</script>', description: '"><img src=x onerror=alert(2)>', date: '2026-09-01' }) });
    const page = await c.get('/expenses?month=2026-09');
    expect(page.text).not.toContain('<script>alert(1)</script>');
    expect(page.text).not.toContain('<img src=x');
    expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const dash = await c.get('/dashboard?month=2026-09');
    expect(dash.text).not.toContain('<script>alert');
  });

  it('saves settings through the form and validates them', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('settings@example.com');
    const ok = await c.submit('/settings', '/settings', { limit: '300.50', currency: 'eur', alertEmail: 'Me@Example.com' });
    expect(ok.status).toBe(303);
    expect((await c.get('/api/budget')).json).toEqual({ monthlyLimitCents: 30050, currency: 'EUR', alertEmail: 'me@example.com', alertEmailVerified: false });
    const bad = await c.submit('/settings', '/settings', { limit: 'lots', currency: 'EUR', alertEmail: '' });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('limit: must be a positive amount');
    const page = await c.get('/settings');
    expect(page.text).toContain('value="300.50"');
  });

  it('renders the dashboard with totals and charts', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('dash@example.com');
    await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: 10_000, currency: 'USD' } });
    await c.request('POST', '/api/expenses', { json: expense({ amountCents: 1234, category: 'Food', date: '2026-10-02' }) });
    await c.request('POST', '/api/expenses', { json: expense({ amountCents: 766, category: 'Bus', date: '2026-10-09' }) });
    const res = await c.get('/dashboard?month=2026-10');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/data-testid="month-total">\$20\.00</);
    expect(res.text).toMatch(/data-testid="remaining">\$80\.00</);
    expect(res.text).toContain('data-testid="chart-category"');
    expect(res.text).toContain('data-testid="chart-day"');
    expect((await c.get('/dashboard?month=nope')).status).toBe(400);
  });
});

describe('admin', () => {
  it('/customers is 403 for users and lists users with expense counts for admins', async () => {
    expect((await alice.get('/customers')).status).toBe(403);
    const boss = new Client(stack.baseUrl);
    await boss.signUp('boss@example.com'); // ADMIN_EMAIL, not verified yet: no admin role
    expect((await boss.get('/customers')).status).toBe(403);
    await boss.verifyEmail(stack.sendgrid, 'boss@example.com');
    const page = await boss.get('/customers');
    expect(page.status).toBe(200);
    expect(page.text).toContain('alice@example.com');
    expect(page.text).toMatch(/bob@example\.com<\/td><td>[\d-]+<\/td><td>user<\/td><td>no<\/td><td class="num">0</);
  });

  it('cli create-admin promotes an existing account', async () => {
    const { runCli } = await import('../src/cli.js');
    // an unverified account is not promoted at once: the grant applies when it verifies
    expect(await runCli(['create-admin', 'bob@example.com'], { DATABASE_URL: stack.dbUrl })).toBe(0);
    expect((await bob.get('/customers')).status).toBe(403);
    await bob.verifyEmail(stack.sendgrid, 'bob@example.com');
    expect((await bob.get('/customers')).status).toBe(200);
    // a verified account is promoted at once
    const carol = new Client(stack.baseUrl);
    await carol.signUp('carol-admin@example.com', undefined, stack.sendgrid);
    expect(await runCli(['create-admin', 'carol-admin@example.com'], { DATABASE_URL: stack.dbUrl })).toBe(0);
    expect((await carol.get('/customers')).status).toBe(200);
    expect(await runCli(['create-admin', 'not an email'], { DATABASE_URL: stack.dbUrl })).toBe(2);
    expect(await runCli(['frobnicate'], { DATABASE_URL: stack.dbUrl })).toBe(2);
  });
});

describe('operations endpoints', () => {
  it('/healthz and /readyz answer 200 with Postgres and Redis up', async () => {
    const c = new Client(stack.baseUrl);
    expect((await c.get('/healthz')).json).toEqual({ status: 'ok' });
    const ready = await c.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready', postgres: 'up', redis: 'up', pool: 'ok' });
  });

  it('/metrics is served on the metrics listener only, with the request histogram by route and status, and pool stats', async () => {
    expect((await new Client(stack.baseUrl).get('/metrics')).status).toBe(404);
    await alice.get('/api/expenses?month=2026-03');
    const res = await new Client(stack.metricsUrl).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(res.text).toMatch(/http_request_duration_seconds_bucket\{[^}]*route="\/api\/expenses"[^}]*status_code="200"/);
    expect(res.text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/api\/expenses\/:id",status_code="404"\}/);
    expect(res.text).toMatch(/pg_pool_connections\{state="total"\} \d+/);
    expect(res.text).toContain('summary_cache_requests_total');
    expect(res.text).toMatch(/app_dependency_up\{dependency="postgres"\} 1/);
    expect(res.text).toMatch(/app_dependency_up\{dependency="redis"\} 1/);
    expect((await new Client(stack.metricsUrl).get('/')).status).toBe(404);
  });
});
