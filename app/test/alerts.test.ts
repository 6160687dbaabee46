/**
 * Budget alerts through the real @sendgrid/mail client pointed at a local stub (SENDGRID_API_URL):
 * exactly one email per threshold per month, failures retried by the background loop without
 * failing the user's request, and concurrent writes never doubling an alert.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, eventually, expense, startStack, type Stack } from './harness.js';

let stack: Stack;

beforeAll(async () => {
  // No ADMIN_EMAIL here (empty, as the chart may set it): registration must work without it.
  stack = await startStack({ alerts: { loopIntervalMs: 100, retryBaseMs: 200 }, env: { ADMIN_EMAIL: '' } });
  stack.built.alerts.start();
});
afterAll(async () => {
  await stack?.stop();
});

async function alertRows(email: string) {
  const res = await stack.pool.query(
    `SELECT a.threshold, a.status, to_char(a.month, 'YYYY-MM') AS month, a.attempts
       FROM budget_alerts a JOIN users u ON u.id = a.user_id WHERE u.email = $1 ORDER BY a.month, a.threshold`,
    [email],
  );
  return res.rows;
}

describe('budget alerts', () => {
  it('sends one email at 80 % and one at 100 % per month, never twice', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('spender@example.com');
    expect((await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: 10_000, currency: 'USD' } })).status).toBe(200);
    const add = async (cents: number, date = '2026-04-10') => {
      const r = await c.request('POST', '/api/expenses', { json: expense({ amountCents: cents, date }) });
      expect(r.status).toBe(201);
    };
    await add(5_000); // 50 %
    await add(2_000); // 70 %
    expect(stack.sendgrid.sentTo('spender@example.com')).toHaveLength(0);
    await add(1_000); // 80 % -> alert
    await eventually('80 % alert sent', () => stack.sendgrid.sentTo('spender@example.com').length === 1);
    await add(500); // 85 %: nothing new
    await add(500); // 90 %
    await add(1_500, '2026-05-01'); // other month, under its threshold
    await add(999); // 99.99 %
    await add(1); // 100 % -> alert
    await eventually('100 % alert sent', () => stack.sendgrid.sentTo('spender@example.com').length === 2);
    await add(5_000); // 150 %: nothing new
    // an edit that moves money around within the month does not re-send either
    const list = await c.get('/api/expenses?month=2026-04');
    await c.request('PATCH', `/api/expenses/${list.json.expenses[0].id}`, { json: { amountCents: 9_000 } });
    await stack.built.alerts.sendDue();

    const mails = stack.sendgrid.sentTo('spender@example.com');
    expect(mails).toHaveLength(2);
    expect(mails[0]!.url).toBe('/v3/mail/send');
    expect(mails[0]!.method).toBe('POST');
    expect(mails[0]!.authorization).toBe('Bearer SG.test-key');
    expect(mails[0]!.body.from).toEqual({ email: 'alerts@expense.test' });
    expect(mails[0]!.body.subject).toBe('Budget alert: 80% of your 2026-04 budget used');
    expect(JSON.stringify(mails[0]!.body.content)).toContain('$80.00');
    expect(mails[1]!.body.subject).toBe('Budget alert: you reached your 2026-04 budget');
    expect(await alertRows('spender@example.com')).toEqual([
      { threshold: 80, status: 'sent', month: '2026-04', attempts: 1 },
      { threshold: 100, status: 'sent', month: '2026-04', attempts: 1 },
    ]);
  });

  it('crossing both thresholds at once sends only the 100 % email, to the alert email', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('jumper@example.com');
    await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: 1_000, currency: 'EUR', alertEmail: 'notify@example.com' } });
    await c.request('POST', '/api/expenses', { json: expense({ amountCents: 100, currency: 'USD', date: '2026-04-02' }) }); // other currency: ignored
    await c.request('POST', '/api/expenses', { json: expense({ amountCents: 1_200, currency: 'EUR', date: '2026-04-02' }) });
    await eventually('alert sent', () => stack.sendgrid.sentTo('notify@example.com').length === 1);
    await stack.built.alerts.sendDue();
    expect(stack.sendgrid.sentTo('notify@example.com')).toHaveLength(1);
    expect(stack.sendgrid.sentTo('jumper@example.com')).toHaveLength(0);
    expect(stack.sendgrid.sentTo('notify@example.com')[0]!.body.subject).toContain('reached');
    expect((await alertRows('jumper@example.com')).map((r) => [r.threshold, r.status])).toEqual([
      [80, 'superseded'],
      [100, 'sent'],
    ]);
  });

  it('a SendGrid failure never fails the request and is retried by the background loop', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('flaky@example.com');
    await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: 1_000, currency: 'USD' } });
    stack.sendgrid.failWith.push(500, 503);
    const r = await c.request('POST', '/api/expenses', { json: expense({ amountCents: 850, date: '2026-04-03' }) });
    expect(r.status).toBe(201);
    await eventually('alert delivered after retries', () => stack.sendgrid.sentTo('flaky@example.com').length === 3, 20_000);
    const rows = await alertRows('flaky@example.com');
    expect(rows).toEqual([{ threshold: 80, status: 'sent', month: '2026-04', attempts: 3 }]);
    // the failed attempts were real requests to the stub; only the last one was accepted
    expect(stack.sendgrid.failWith).toEqual([]);
    await stack.built.alerts.sendDue();
    expect(stack.sendgrid.sentTo('flaky@example.com')).toHaveLength(3);
    const metrics = await new Client(stack.baseUrl).get('/metrics');
    expect(metrics.text).toMatch(/budget_alerts_total\{result="failed"\} [1-9]/);
  });

  it('concurrent writes crossing the threshold record and send the alert once', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('race@example.com');
    await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: 1_000, currency: 'USD' } });
    const results = await Promise.all(
      Array.from({ length: 8 }, () => c.request('POST', '/api/expenses', { json: expense({ amountCents: 200, date: '2026-04-04' }) })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(201));
    // Depending on interleaving the 80 % row is sent or superseded; the 100 % one is always sent.
    await eventually('100 % alert sent', () => stack.sendgrid.sentTo('race@example.com').some((m) => m.body.subject.includes('reached')));
    await stack.built.alerts.sendDue();
    const rows = await alertRows('race@example.com');
    expect(rows.filter((r) => r.threshold === 80)).toHaveLength(1);
    expect(rows.filter((r) => r.threshold === 100)).toHaveLength(1);
    const subjects = stack.sendgrid.sentTo('race@example.com').map((m) => m.body.subject);
    expect(new Set(subjects).size).toBe(subjects.length);
    expect(subjects.length).toBeLessThanOrEqual(2);
  });
});
