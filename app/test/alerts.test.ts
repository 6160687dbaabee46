/**
 * Budget alerts and the mail outbox through the real @sendgrid/mail client pointed at a local
 * stub (SENDGRID_API_URL): exactly one email per threshold per month and limit, only to verified
 * addresses, only for the current month (and the previous one during its first days), re-armed
 * by a limit change, capped per account per day, retried after SendGrid failures without failing
 * the request, and sent once even when two replicas scan the outbox at the same time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Outbox } from '../src/outbox.js';
import { createSendgridMailer } from '../src/mailer.js';
import { Client, eventually, expense, startStack, type Stack } from './harness.js';

/** The app's clock for alert windows: mid-April 2026 unless a test moves it. */
let now = new Date('2026-04-15T12:00:00Z');
const DAILY_CAP = 4;
let stack: Stack;

beforeAll(async () => {
  // No ADMIN_EMAIL here (empty, as the chart may set it): registration must work without it.
  stack = await startStack({
    outbox: { loopIntervalMs: 100, retryBaseMs: 200, dailyCapPerAccount: DAILY_CAP },
    alerts: { now: () => now },
    env: { ADMIN_EMAIL: '' },
  });
  stack.built.start();
});
afterAll(async () => {
  await stack?.stop();
});

async function alertRows(email: string) {
  const res = await stack.pool.query(
    `SELECT a.threshold, a.status, to_char(a.month, 'YYYY-MM') AS month, a.generation, o.status AS mail, o.attempts
       FROM budget_alerts a JOIN users u ON u.id = a.user_id LEFT JOIN mail_outbox o ON o.id = a.mail_id
      WHERE u.email = $1 ORDER BY a.generation, a.month, a.threshold`,
    [email],
  );
  return res.rows;
}

const alertsTo = (to: string) => stack.sendgrid.sentTo(to).filter((m) => /Budget alert/.test(m.body.subject));

async function verifiedUser(email: string, limitCents: number, budget: Record<string, unknown> = {}) {
  const c = new Client(stack.baseUrl);
  await c.signUp(email, undefined, stack.sendgrid);
  expect((await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: limitCents, currency: 'USD', ...budget } })).status).toBe(200);
  const add = async (cents: number, date = '2026-04-10', currency = 'USD') => {
    const r = await c.request('POST', '/api/expenses', { json: expense({ amountCents: cents, date, currency }) });
    expect(r.status).toBe(201);
  };
  return { c, add };
}

describe('budget alerts', () => {
  it('sends one email at 80 % and one at 100 % per month, never twice', async () => {
    const { c, add } = await verifiedUser('spender@example.com', 10_000);
    await add(5_000); // 50 %
    await add(2_000); // 70 %
    expect(alertsTo('spender@example.com')).toHaveLength(0);
    await add(1_000); // 80 % -> alert
    await eventually('80 % alert sent', () => alertsTo('spender@example.com').length === 1);
    await add(500); // 85 %: nothing new
    await add(500); // 90 %
    await add(999); // 99.99 %
    await add(1); // 100 % -> alert
    await eventually('100 % alert sent', () => alertsTo('spender@example.com').length === 2);
    await add(5_000); // 150 %: nothing new
    // an edit that moves money around within the month does not re-send either
    const list = await c.get('/api/expenses?month=2026-04');
    await c.request('PATCH', `/api/expenses/${list.json.expenses[0].id}`, { json: { amountCents: 9_000 } });
    await stack.built.outbox.sendDue();

    const mails = alertsTo('spender@example.com');
    expect(mails).toHaveLength(2);
    expect(mails[0]!.url).toBe('/v3/mail/send');
    expect(mails[0]!.method).toBe('POST');
    expect(mails[0]!.authorization).toBe('Bearer SG.test-key');
    expect(mails[0]!.body.from).toEqual({ email: 'alerts@expense.test' });
    expect(mails[0]!.body.subject).toBe('Budget alert: 80% of your 2026-04 budget used');
    expect(JSON.stringify(mails[0]!.body.content)).toContain('$80.00');
    expect(mails[1]!.body.subject).toBe('Budget alert: you reached your 2026-04 budget');
    expect(await alertRows('spender@example.com')).toEqual([
      { threshold: 80, status: 'queued', month: '2026-04', generation: 0, mail: 'sent', attempts: 1 },
      { threshold: 100, status: 'queued', month: '2026-04', generation: 0, mail: 'sent', attempts: 1 },
    ]);
  });

  it('crossing both thresholds at once sends only the 100 % email, to the alert email once it is verified', async () => {
    const { c, add } = await verifiedUser('jumper@example.com', 1_000, { currency: 'EUR', alertEmail: 'notify@example.com' });
    await add(100, '2026-04-02', 'USD'); // other currency: ignored
    await add(1_200, '2026-04-02', 'EUR'); // 120 %, but notify@ is not verified yet
    await stack.built.outbox.sendDue();
    expect(alertsTo('notify@example.com')).toHaveLength(0);
    expect(alertsTo('jumper@example.com')).toHaveLength(0);
    expect(await alertRows('jumper@example.com')).toEqual([]);
    // the settings change mailed a verification link to the alert email; following it arms the alerts
    await c.verifyEmail(stack.sendgrid, 'notify@example.com');
    expect((await c.get('/api/budget')).json).toMatchObject({ alertEmail: 'notify@example.com', alertEmailVerified: true });
    await add(1, '2026-04-03', 'EUR');
    await eventually('alert sent', () => alertsTo('notify@example.com').length === 1);
    await stack.built.outbox.sendDue();
    expect(alertsTo('notify@example.com')).toHaveLength(1);
    expect(alertsTo('jumper@example.com')).toHaveLength(0);
    expect(alertsTo('notify@example.com')[0]!.body.subject).toContain('reached');
    expect((await alertRows('jumper@example.com')).map((r) => [r.threshold, r.status])).toEqual([
      [80, 'superseded'],
      [100, 'queued'],
    ]);
  });

  it('an unverified account gets no alert; once verified, the next write that is over a threshold sends it', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('unverified@example.com');
    await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: 1_000, currency: 'USD' } });
    await c.request('POST', '/api/expenses', { json: expense({ amountCents: 900, date: '2026-04-05' }) });
    await stack.built.outbox.sendDue();
    expect(alertsTo('unverified@example.com')).toHaveLength(0);
    await c.verifyEmail(stack.sendgrid, 'unverified@example.com');
    await c.request('POST', '/api/expenses', { json: expense({ amountCents: 10, date: '2026-04-05' }) });
    await eventually('alert after verification', () => alertsTo('unverified@example.com').length === 1);
  });

  it('alerts only for the current month, and for the previous one during its first three days', async () => {
    const { add } = await verifiedUser('window@example.com', 1_000);
    await add(700, '2026-04-20'); // April at 70 %
    await add(900, '2026-03-20'); // a past month in mid-April
    await add(900, '2026-05-02'); // a future month
    await add(900, '2025-04-02'); // same month last year
    await stack.built.outbox.sendDue();
    expect(alertsTo('window@example.com')).toHaveLength(0);
    now = new Date('2026-05-02T10:00:00Z'); // May 2nd: April still alerts
    try {
      await add(150, '2026-04-28'); // a late April receipt: April at 85 %
      await eventually('late April alert', () => alertsTo('window@example.com').some((m) => m.body.subject.includes('2026-04')));
      await add(10, '2026-05-03'); // and May is the current month now
      await eventually('May alert', () => alertsTo('window@example.com').some((m) => m.body.subject.includes('2026-05')));
      now = new Date('2026-05-04T10:00:00Z'); // past the grace days: April is closed
      await add(300, '2026-04-29'); // April at 115 %: would be the 100 % alert
      await stack.built.outbox.sendDue();
      expect(alertsTo('window@example.com').filter((m) => m.body.subject.includes('2026-04'))).toHaveLength(1);
    } finally {
      now = new Date('2026-04-15T12:00:00Z');
    }
  });

  it('re-arms when the limit changes: the new limit alerts again in the same month', async () => {
    const { c, add } = await verifiedUser('rearm@example.com', 1_000);
    await add(850, '2026-04-06'); // 85 % -> 80 % alert
    await eventually('first alert', () => alertsTo('rearm@example.com').length === 1);
    // same limit saved again: no new generation, no new mail
    await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: 1_000, currency: 'USD' } });
    await stack.built.outbox.sendDue();
    expect(alertsTo('rearm@example.com')).toHaveLength(1);
    // a lower limit that the month already exceeds alerts at once for the new limit
    await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: 800, currency: 'USD' } });
    await eventually('re-armed alert', () => alertsTo('rearm@example.com').length === 2);
    expect(alertsTo('rearm@example.com')[1]!.body.subject).toContain('reached');
    expect((await alertRows('rearm@example.com')).map((r) => [r.generation, r.threshold, r.status])).toEqual([
      [0, 80, 'queued'],
      [1, 80, 'superseded'],
      [1, 100, 'queued'],
    ]);
  });

  it('caps the mail of one account per day: further messages are recorded as suppressed, never sent', async () => {
    const { c } = await verifiedUser('chatty@example.com', 1_000); // the verification mail is #1 today
    await c.request('POST', '/api/expenses', { json: expense({ amountCents: 2_000, date: '2026-04-07' }) }); // #2
    // toggling the limit re-arms every time: the abuse the cap exists for
    for (const limit of [1_001, 1_002, 1_003, 1_004, 1_005]) {
      expect((await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: limit, currency: 'USD' } })).status).toBe(200);
    }
    await stack.built.outbox.sendDue();
    await eventually('sends settle', async () => {
      const r = await stack.pool.query(
        `SELECT count(*)::int AS n FROM mail_outbox o JOIN users u ON u.id = o.user_id WHERE u.email = $1 AND o.status = 'pending'`,
        ['chatty@example.com'],
      );
      return r.rows[0].n === 0;
    });
    const rows = await stack.pool.query(
      `SELECT o.kind, o.status FROM mail_outbox o JOIN users u ON u.id = o.user_id WHERE u.email = $1 ORDER BY o.id`,
      ['chatty@example.com'],
    );
    expect(rows.rows.filter((r) => r.status === 'sent')).toHaveLength(DAILY_CAP);
    expect(rows.rows.filter((r) => r.status === 'suppressed').length).toBeGreaterThan(0);
    expect(stack.sendgrid.sentTo('chatty@example.com')).toHaveLength(DAILY_CAP);
    const metrics = await new Client(stack.metricsUrl).get('/metrics');
    expect(metrics.text).toMatch(/mail_messages_total\{kind="budget_alert",result="suppressed"\} [1-9]/);
  });

  it('a SendGrid failure never fails the request and is retried by the background loop', async () => {
    const { add } = await verifiedUser('flaky@example.com', 1_000);
    stack.sendgrid.failWith.push(500, 503);
    await add(850, '2026-04-03');
    await eventually('alert delivered after retries', () => alertsTo('flaky@example.com').length === 3, 20_000);
    expect(await alertRows('flaky@example.com')).toEqual([{ threshold: 80, status: 'queued', month: '2026-04', generation: 0, mail: 'sent', attempts: 3 }]);
    expect(stack.sendgrid.failWith).toEqual([]);
    await stack.built.outbox.sendDue();
    expect(alertsTo('flaky@example.com')).toHaveLength(3);
    const metrics = await new Client(stack.metricsUrl).get('/metrics');
    expect(metrics.text).toMatch(/budget_alerts_total\{result="failed"\} [1-9]/);
    expect(metrics.text).toMatch(/mail_messages_total\{kind="budget_alert",result="failed"\} [1-9]/);
  });

  it('concurrent writes crossing the threshold record and send the alert once', async () => {
    const { c } = await verifiedUser('race@example.com', 1_000);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => c.request('POST', '/api/expenses', { json: expense({ amountCents: 200, date: '2026-04-04' }) })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(201));
    await eventually('100 % alert sent', () => alertsTo('race@example.com').some((m) => m.body.subject.includes('reached')));
    await stack.built.outbox.sendDue();
    const rows = await alertRows('race@example.com');
    expect(rows.filter((r) => r.threshold === 80)).toHaveLength(1);
    expect(rows.filter((r) => r.threshold === 100)).toHaveLength(1);
    const subjects = alertsTo('race@example.com').map((m) => m.body.subject);
    expect(new Set(subjects).size).toBe(subjects.length);
    expect(subjects.length).toBeLessThanOrEqual(2);
  });

  it('two replicas scanning the same outbox send every message exactly once', async () => {
    const users = await stack.pool.query(`SELECT id, email FROM users ORDER BY created_at LIMIT 4`);
    const log = pino({ level: 'silent' });
    const mailer = createSendgridMailer(stack.config.sendgrid, stack.config.mailFrom);
    const replica = () => new Outbox(stack.pool, mailer, log, stack.built.metrics, stack.config.publicBaseUrl, { dailyCapPerAccount: 1_000 });
    const [a, b] = [replica(), replica()];
    const recipients: string[] = [];
    for (let i = 0; i < 24; i++) {
      const u = users.rows[i % users.rows.length];
      const to = `replica-${i}@example.com`;
      recipients.push(to);
      // enqueued without kick: only the scans below send them
      await a.enqueue(stack.pool, { userId: u.id, kind: 'account_exists', recipient: to, payload: {} });
    }
    // the same dedupe key twice is one message
    const first = await a.enqueue(stack.pool, { userId: users.rows[0].id, kind: 'account_exists', recipient: 'dedupe@example.com', payload: {}, dedupeKey: 'test:dedupe' });
    const second = await b.enqueue(stack.pool, { userId: users.rows[0].id, kind: 'account_exists', recipient: 'dedupe@example.com', payload: {}, dedupeKey: 'test:dedupe' });
    expect(first).not.toBeNull();
    expect(second).toBeNull();
    recipients.push('dedupe@example.com');
    await Promise.all([a.sendDue(), b.sendDue(), stack.built.outbox.sendDue()]);
    for (const to of recipients) expect(stack.sendgrid.sentTo(to), to).toHaveLength(1);
  });
});
