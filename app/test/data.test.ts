/**
 * The data a real user has: paginated lists with nothing cut off (API `Link` headers, page
 * next/previous links), the dashboard's month switcher, twelve-month chart and category totals,
 * the user's time zone, and CSV export of a month and of everything.
 */
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dateIn, monthIn } from '../src/calendar.js';
import { Client, expense, startStack, type Stack } from './harness.js';

let stack: Stack;
let heavy: Client;
let heavyId: string;
const ROWS_IN_MARCH = 1_234;

beforeAll(async () => {
  stack = await startStack();
  heavy = new Client(stack.baseUrl);
  await heavy.signUp('heavy@example.com');
  heavyId = (await stack.pool.query(`SELECT id FROM users WHERE email = 'heavy@example.com'`)).rows[0].id;
  // More rows than the old hard cut-off of 1000, several on the same day (ties need a total order).
  await stack.pool.query(
    `INSERT INTO expenses (user_id, amount_cents, currency, category, description, spent_on)
     SELECT $1, 100 + i, 'USD', (ARRAY['Food','Rent','Bus'])[1 + i % 3], 'row ' || i, DATE '2026-03-01' + (i % 31)
       FROM generate_series(1, $2) AS i`,
    [heavyId, ROWS_IN_MARCH],
  );
  await stack.pool.query(
    `INSERT INTO expenses (user_id, amount_cents, currency, category, description, spent_on)
     SELECT $1, 1000 * i, 'USD', 'Monthly', 'month ' || i, DATE '2025-04-15' + make_interval(months => i - 1)
       FROM generate_series(1, 11) AS i`,
    [heavyId],
  );
});
afterAll(async () => {
  await stack?.stop();
});

const links = (header: string | null) =>
  Object.fromEntries((header ?? '').split(', ').filter(Boolean).map((l) => {
    const m = /^<([^>]+)>; rel="(\w+)"$/.exec(l)!;
    return [m[2], m[1]];
  }));

describe('pagination', () => {
  it('API: every row reachable through Link headers, no duplicates, total in the body and X-Total-Count', async () => {
    const seen = new Set<string>();
    let url: string | undefined = '/api/expenses?month=2026-03&limit=200';
    let pages = 0;
    while (url) {
      const res = await heavy.get(url.replace('http://127.0.0.1', ''));
      expect(res.status).toBe(200);
      expect(res.json.total).toBe(ROWS_IN_MARCH);
      expect(res.headers.get('x-total-count')).toBe(String(ROWS_IN_MARCH));
      for (const e of res.json.expenses) seen.add(e.id);
      const l = links(res.headers.get('link'));
      expect(l.first).toBe('http://127.0.0.1/api/expenses?month=2026-03&page=1&limit=200');
      expect(l.last).toBe('http://127.0.0.1/api/expenses?month=2026-03&page=7&limit=200');
      url = l.next;
      pages++;
    }
    expect(pages).toBe(7);
    expect(seen.size).toBe(ROWS_IN_MARCH);
    const all = await heavy.get('/api/expenses?limit=200&page=7');
    expect(all.json.total).toBe(ROWS_IN_MARCH + 11); // without a month: everything
    expect(links(all.headers.get('link')).prev).toContain('page=6');
    expect(links(all.headers.get('link')).next).toBeUndefined();
    const first = await heavy.get('/api/expenses?month=2026-03');
    expect(first.json).toMatchObject({ page: 1, limit: 50, total: ROWS_IN_MARCH });
    expect(first.json.expenses).toHaveLength(50);
    expect(first.json.expenses[0].date >= first.json.expenses[49].date).toBe(true); // newest first
  });

  it('API: a limit above the maximum or a bad page is a 400 naming it, never a shorter list', async () => {
    for (const [q, field] of [['limit=201', 'limit'], ['limit=0', 'limit'], ['page=0', 'page'], ['page=-1', 'page'], ['page=abc', 'page'], ['limit=1.5', 'limit']] as const) {
      const res = await heavy.get(`/api/expenses?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.json.field, q).toBe(field);
    }
    const beyond = await heavy.get('/api/expenses?month=2026-03&page=99');
    expect(beyond.status).toBe(200);
    expect(beyond.json.expenses).toEqual([]);
    expect(links(beyond.headers.get('link')).prev).toContain('page=25'); // back to the last page
  });

  it('pages: next/previous links walk the whole month', async () => {
    const seen = new Set<string>();
    let path: string | undefined = '/expenses?month=2026-03';
    let pages = 0;
    while (path) {
      const res = await heavy.get(path);
      expect(res.status).toBe(200);
      for (const m of res.text.matchAll(/href="\/expenses\/([0-9a-f-]{36})\/edit"/g)) seen.add(m[1]!);
      if (pages === 0) expect(res.text).toContain(`1–50 of ${ROWS_IN_MARCH} expenses`);
      path = /<a rel="next" href="([^"]+)"/.exec(res.text)?.[1]?.replaceAll('&amp;', '&');
      if (pages > 0) expect(res.text).toMatch(/<a rel="prev" href="\/expenses\?month=2026-03&amp;page=\d+">/);
      pages++;
    }
    expect(pages).toBe(Math.ceil(ROWS_IN_MARCH / 50));
    expect(seen.size).toBe(ROWS_IN_MARCH);
  });

  it('admin customers list is paginated too', async () => {
    const boss = new Client(stack.baseUrl);
    await boss.signUp('boss@example.com', undefined, stack.sendgrid);
    const res = await boss.get('/customers?page=1&limit=1');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/1–1 of \d+ accounts/);
    expect(res.text).toContain('rel="next"');
  });
});

describe('dashboard', () => {
  it('switches months, shows the last twelve months and the per-category totals of the chosen month', async () => {
    const res = await heavy.get('/dashboard?month=2026-03');
    expect(res.status).toBe(200);
    expect(res.text).toContain('data-testid="dashboard-month">2026-03<');
    expect(res.text).toContain('href="/dashboard?month=2026-02" data-testid="previous-month"');
    expect(res.text).toContain('href="/dashboard?month=2026-04" data-testid="next-month"');
    // twelve columns, 2025-04 .. 2026-03, each a link, the chosen month highlighted
    const months = [...res.text.matchAll(/<rect data-month="(\d{4}-\d{2})"/g)].map((m) => m[1]);
    expect(months).toEqual(['2025-04', '2025-05', '2025-06', '2025-07', '2025-08', '2025-09', '2025-10', '2025-11', '2025-12', '2026-01', '2026-02', '2026-03']);
    expect(res.text).toMatch(/<title>2025-05: \$20\.00<\/title>/);
    expect(res.text).toMatch(/data-month="2026-03"[^>]*fill="#2f6fde"/);
    // per-category totals of March: rows i with i % 3 == 0 -> Food, 1 -> Rent, 2 -> Bus
    const summary = await heavy.get('/api/summary?month=2026-03');
    const food = summary.json.byCategory.find((c: { category: string }) => c.category === 'Food').totalCents;
    expect(res.text).toContain(`<tr><td>Food</td><td class="num">$${(food / 100).toLocaleString('en-US', { minimumFractionDigits: 2 })}</td>`);
    expect(summary.json.lastMonths).toHaveLength(12);
    expect(summary.json.lastMonths[11]).toEqual({ month: '2026-03', totalCents: summary.json.totalCents });
    expect(summary.json.lastMonths[1]).toEqual({ month: '2025-05', totalCents: 2000 });
    // a write to a month refreshes every cached twelve-month view that includes it
    await heavy.request('POST', '/api/expenses', { json: expense({ amountCents: 5, date: '2025-05-20' }) });
    expect((await heavy.get('/api/summary?month=2026-03')).json.lastMonths[1]).toEqual({ month: '2025-05', totalCents: 2005 });
  });

  it('"this month" and today follow the user\'s time zone, set at registration from the browser or in settings', async () => {
    // Kiritimati is UTC+14: most of the time its date differs from UTC's for part of the day
    const c = new Client(stack.baseUrl);
    const token = await c.csrf('/register');
    const reg = await c.request('POST', '/register', { form: { email: 'tz@example.com', password: 'correct horse battery', timeZone: 'Pacific/Kiritimati', _csrf: token } });
    expect(reg.status).toBe(303);
    await c.login('tz@example.com');
    expect((await c.get('/api/account')).json.timeZone).toBe('Pacific/Kiritimati');
    expect((await c.get('/api/summary')).json.month).toBe(monthIn('Pacific/Kiritimati'));
    expect((await c.get('/expenses')).text).toContain(`name="date" value="${dateIn('Pacific/Kiritimati')}"`);
    const bad = await c.submit('/settings', '/settings', { limit: '', currency: 'USD', alertEmail: '', timeZone: 'Mars/Olympus' });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('timeZone: must be an IANA time zone name');
    expect((await c.submit('/settings', '/settings', { limit: '', currency: 'USD', alertEmail: '', timeZone: 'America/Adak' })).status).toBe(303);
    expect((await c.get('/api/summary')).json.month).toBe(monthIn('America/Adak'));
    expect((await c.get('/settings')).text).toContain('<option value="America/Adak" selected>');
    expect((await c.request('PUT', '/api/account', { json: { timeZone: 'nope' } })).json.field).toBe('timeZone');
    const reg2 = await new Client(stack.baseUrl).submit('/register', '/register', { email: 'tz2@example.com', password: 'correct horse battery', timeZone: 'Not/AZone' });
    expect(reg2.status).toBe(400);
    expect(reg2.text).toContain('timeZone: must be an IANA time zone name');
  });
});

describe('CSV export', () => {
  it('exports a month and everything, every row, with spreadsheet formulas neutralized', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('csv@example.com');
    await c.request('POST', '/api/expenses', { json: expense({ amountCents: 1999, currency: 'EUR', category: '=HYPERLINK("http://x")', description: 'comma, "quote"', date: '2026-03-02' }) });
    await c.request('POST', '/api/expenses', { json: expense({ amountCents: 5, currency: 'JPY', category: 'Food', description: '+cmd', date: '2026-02-10' }) });

    const month = await c.get('/expenses/export?month=2026-03');
    expect(month.status).toBe(200);
    expect(month.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(month.headers.get('content-disposition')).toBe('attachment; filename="expenses-2026-03.csv"');
    const rows = parse(month.text, { bom: true, columns: true }) as Record<string, string>[];
    expect(rows).toEqual([
      expect.objectContaining({ date: '2026-03-02', amount: '19.99', currency: 'EUR', category: `'=HYPERLINK("http://x")`, description: 'comma, "quote"' }),
    ]);
    const all = parse((await c.get('/expenses/export?month=all')).text, { bom: true, columns: true }) as Record<string, string>[];
    expect(all.map((r) => [r.date, r.amount, r.currency, r.description])).toEqual([
      ['2026-02-10', '5', 'JPY', "'+cmd"],
      ['2026-03-02', '19.99', 'EUR', 'comma, "quote"'],
    ]);
    expect((await c.get('/expenses/export?month=2026-13')).status).toBe(400);
    expect((await new Client(stack.baseUrl).get('/expenses/export?month=all')).status).toBe(303); // login first
  });

  it('exports more rows than fit one batch, in date order, none missing', async () => {
    const res = await heavy.get('/expenses/export?month=all');
    expect(res.status).toBe(200);
    const rows = parse(res.text, { bom: true, columns: true }) as Record<string, string>[];
    const total = await stack.pool.query('SELECT count(*)::int AS n FROM expenses WHERE user_id = $1', [heavyId]);
    expect(rows).toHaveLength(total.rows[0].n);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    const dates = rows.map((r) => r.date);
    expect([...dates].sort()).toEqual(dates);
  });
});
