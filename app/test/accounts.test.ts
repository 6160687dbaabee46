/**
 * Account flows against real PostgreSQL, Redis and the SendGrid stub: password strength, change,
 * reset by emailed single-use expiring link, email verification, log out everywhere, account
 * deletion, session lifetimes, and the login/registration throttles (no victim lockout, no
 * password spray, no account enumeration).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, eventually, expense, startStack, type Stack } from './harness.js';

let stack: Stack;
const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'violet tractor sings loudly';

beforeAll(async () => {
  stack = await startStack({
    throttle: {
      loginPerAddress: { points: 6, seconds: 3600 },
      loginPerAccountAddress: { points: 3, seconds: 900 },
      loginPerAccount: { points: 5, seconds: 3600 },
      loginPerAccountDevice: { points: 3, seconds: 900 },
      registerPerAddress: { points: 2, seconds: 3600 },
      resetPerAccount: { points: 2, seconds: 3600 },
    },
  });
});
afterAll(async () => {
  await stack?.stop();
});

const sha256 = (s: string) => createHash('sha256').update(decodeURIComponent(s).split('.').slice(0, -1).join('.')).digest();
const userId = async (email: string) => (await stack.pool.query('SELECT id FROM users WHERE email = $1', [email])).rows[0]?.id as string | undefined;

describe('passwords', () => {
  it.each([
    ['password123', /commonly used password/],
    ['qwertyuiop', /frequently used password/],
    ['iloveyou1', /commonly used password/],
    ['weak.user@example.com', /too easy to guess/],
  ])('refuses the common or guessable password %s with 400 naming the field', async (password, reason) => {
    const res = await new Client(stack.baseUrl).register('weak.user@example.com', password);
    expect(res.status).toBe(400);
    expect(res.text).toContain('password: is too easy to guess');
    expect(res.text).toMatch(reason);
    expect(await userId('weak.user@example.com')).toBeUndefined();
  });

  it('stores argon2id hashes only', async () => {
    await new Client(stack.baseUrl).signUp('hash@example.com');
    const row = await stack.pool.query(`SELECT password_hash FROM users WHERE email = 'hash@example.com'`);
    expect(row.rows[0].password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  });
});

describe('password change', () => {
  it('needs the current password, refuses a weak new one, and logs out every other session', async () => {
    const here = new Client(stack.baseUrl);
    const elsewhere = new Client(stack.baseUrl);
    await here.signUp('changer@example.com');
    expect((await elsewhere.login('changer@example.com')).status).toBe(303);

    const wrong = await here.submit('/account', '/account/password', { currentPassword: 'not my password', newPassword: NEW_PASSWORD });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain('currentPassword: is not your current password');
    const weak = await here.submit('/account', '/account/password', { currentPassword: PASSWORD, newPassword: 'password1234' });
    expect(weak.status).toBe(400);
    expect(weak.text).toContain('newPassword: is too easy to guess');
    expect((await elsewhere.get('/api/expenses')).status).toBe(200);

    const ok = await here.submit('/account', '/account/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD });
    expect(ok.status).toBe(303);
    expect((await here.get('/api/expenses')).status).toBe(200); // this session stays
    expect((await elsewhere.get('/api/expenses')).status).toBe(401); // the other one ended
    expect((await new Client(stack.baseUrl).login('changer@example.com', PASSWORD)).status).toBe(401);
    expect((await new Client(stack.baseUrl).login('changer@example.com', NEW_PASSWORD)).status).toBe(303);
  });
});

describe('password reset by email', () => {
  it('answers the same for known and unknown emails and mails only the account owner', async () => {
    await new Client(stack.baseUrl).signUp('resetme@example.com');
    const known = await new Client(stack.baseUrl).submit('/password/forgot', '/password/forgot', { email: 'resetme@example.com' });
    const unknown = await new Client(stack.baseUrl).submit('/password/forgot', '/password/forgot', { email: 'ghost@example.com' });
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(200);
    expect(unknown.text.replaceAll('ghost@example.com', 'X').replace(/value="[^"]*"/g, '')).toBe(
      known.text.replaceAll('resetme@example.com', 'X').replace(/value="[^"]*"/g, ''),
    );
    await stack.sendgrid.waitFor('resetme@example.com', /Reset your Expense Tracker password/);
    await stack.built.outbox.sendDue();
    expect(stack.sendgrid.sentTo('ghost@example.com')).toHaveLength(0);
  });

  it('a link sets a new password once, ends every session, and expires', async () => {
    const owner = new Client(stack.baseUrl);
    await owner.signUp('forgetful@example.com');
    const before = stack.sendgrid.sentTo('forgetful@example.com').length;
    await new Client(stack.baseUrl).submit('/password/forgot', '/password/forgot', { email: 'Forgetful@Example.com ' });
    await eventually('reset mail', () => stack.sendgrid.sentTo('forgetful@example.com').length > before);
    const link = await stack.sendgrid.linkFor('forgetful@example.com', /Reset your/, 'http://127.0.0.1');
    expect(link).toMatch(/^\/password\/reset\?token=[\w-]{43}$/);
    const token = new URL(link, stack.baseUrl).searchParams.get('token')!;

    const browser = new Client(stack.baseUrl);
    const form = await browser.get(link);
    expect(form.status).toBe(200);
    expect(form.text).toContain('forgetful@example.com');
    const weak = await browser.submit(link, '/password/reset', { token, password: 'abc12345' });
    expect(weak.status).toBe(400);
    expect(weak.text).toContain('password: is too easy to guess');
    const done = await browser.submit(link, '/password/reset', { token, password: NEW_PASSWORD });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/login?reset=1');

    expect((await owner.get('/api/expenses')).status).toBe(401); // every session ended
    const again = await browser.submit('/password/forgot', '/password/reset', { token, password: 'yet another fine passphrase' });
    expect(again.status).toBe(400); // single use
    expect(again.text).toContain('already used or has expired');
    expect((await browser.get(link)).status).toBe(400);
    expect((await new Client(stack.baseUrl).login('forgetful@example.com', PASSWORD)).status).toBe(401);
    expect((await new Client(stack.baseUrl).login('forgetful@example.com', NEW_PASSWORD)).status).toBe(303);
    // the link reached the mailbox: the address counts as verified now
    expect((await stack.pool.query(`SELECT email_verified_at FROM users WHERE email = 'forgetful@example.com'`)).rows[0].email_verified_at).not.toBeNull();
    // a sent token mail keeps no copy of the link
    const stored = await stack.pool.query(
      `SELECT o.payload FROM mail_outbox o JOIN users u ON u.id = o.user_id WHERE u.email = 'forgetful@example.com' AND o.kind = 'password_reset'`,
    );
    expect(stored.rows.map((r) => r.payload)).toEqual([{}]);
    // only the hash of the token is stored
    const hashes = await stack.pool.query(`SELECT count(*)::int AS n FROM account_tokens WHERE token_hash = $1`, [createHash('sha256').update(token).digest()]);
    expect(hashes.rows[0].n).toBe(1);

    // an expired link is refused
    await new Client(stack.baseUrl).submit('/password/forgot', '/password/forgot', { email: 'forgetful@example.com' });
    await eventually('second reset mail', async () => (await stack.sendgrid.linkFor('forgetful@example.com', /Reset your/, 'http://127.0.0.1')) !== link);
    const second = await stack.sendgrid.linkFor('forgetful@example.com', /Reset your/, 'http://127.0.0.1');
    await stack.pool.query(`UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1`, [await userId('forgetful@example.com')]);
    const expired = await new Client(stack.baseUrl).get(second);
    expect(expired.status).toBe(400);
    expect(expired.text).toContain('has expired');
  });

  it('a token mail that could not be sent before its token expired is never sent', async () => {
    await new Client(stack.baseUrl).signUp('slowmail@example.com');
    const sent = stack.sendgrid.sentTo('slowmail@example.com').length;
    stack.sendgrid.failWith.push(503);
    await new Client(stack.baseUrl).submit('/password/forgot', '/password/forgot', { email: 'slowmail@example.com' });
    await eventually('failed attempt rescheduled', async () => {
      const r = await stack.pool.query(`SELECT last_error FROM mail_outbox WHERE kind = 'password_reset' AND recipient = 'slowmail@example.com'`);
      return r.rows[0]?.last_error != null;
    });
    expect(stack.sendgrid.sentTo('slowmail@example.com')).toHaveLength(sent + 1);
    await stack.pool.query(
      `UPDATE mail_outbox SET next_attempt_at = now(), payload = jsonb_set(payload, '{expiresAt}', to_jsonb((now() - interval '1 second')::text))
        WHERE kind = 'password_reset' AND recipient = 'slowmail@example.com' AND status = 'pending'`,
    );
    await stack.built.outbox.sendDue();
    expect(stack.sendgrid.sentTo('slowmail@example.com')).toHaveLength(sent + 1);
    const row = await stack.pool.query(`SELECT status, payload FROM mail_outbox WHERE kind = 'password_reset' AND recipient = 'slowmail@example.com'`);
    expect(row.rows).toEqual([{ status: 'expired', payload: {} }]);
  });
});

describe('email verification', () => {
  it('a link verifies once; opening it does not consume it; unknown tokens are refused', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('verify-me@example.com');
    expect((await c.get('/api/account')).json).toMatchObject({ email: 'verify-me@example.com', emailVerified: false });
    const link = await stack.sendgrid.linkFor('verify-me@example.com', /Confirm your email/, 'http://127.0.0.1');
    const token = new URL(link, stack.baseUrl).searchParams.get('token')!;
    expect((await c.get(link)).status).toBe(200);
    expect((await c.get(link)).status).toBe(200); // a mail scanner's prefetch changes nothing
    expect((await c.submit(link, '/verify-email', { token })).headers.get('location')).toBe('/account?verified=1');
    expect((await c.get('/api/account')).json.emailVerified).toBe(true);
    expect((await c.submit(link, '/verify-email', { token })).status).toBe(400);
    expect((await c.submit(link, '/verify-email', { token: 'made-up' })).status).toBe(400);
    expect((await c.get('/account')).text).toContain('data-testid="email-status">verified<');
  });

  it('the account page sends a new link, throttled per account', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('resend@example.com');
    await stack.sendgrid.waitFor('resend@example.com', /Confirm your email/);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await c.submit('/account', '/account/verify-email', {})).status);
    expect(statuses).toEqual([303, 303, 303, 429]);
    await eventually('three more links', () => stack.sendgrid.sentTo('resend@example.com').length === 4);
    await c.verifyEmail(stack.sendgrid, 'resend@example.com');
  });
});

describe('sessions', () => {
  it('are stored as hashes, have an absolute lifetime and an idle timeout', async () => {
    const c = new Client(stack.baseUrl);
    await c.register('lifetime@example.com');
    const login = await c.login('lifetime@example.com');
    const setCookie = login.headers.getSetCookie().find((s) => s.startsWith('sid='))!;
    expect(setCookie).toMatch(/Max-Age=2592000/);
    const hash = sha256(c.cookies.get('sid')!);
    const row = await stack.pool.query(`SELECT expires_at - created_at AS lifetime FROM sessions WHERE id_hash = $1`, [hash]);
    expect(row.rows).toHaveLength(1);
    expect(row.rows[0].lifetime).toMatchObject({ days: 30 });
    expect((await c.get('/api/expenses')).status).toBe(200);
    // past the absolute end: over, however active
    await stack.pool.query(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id_hash = $1`, [hash]);
    expect((await c.get('/api/expenses')).status).toBe(401);

    await c.login('lifetime@example.com');
    const hash2 = sha256(c.cookies.get('sid')!);
    await stack.pool.query(`UPDATE sessions SET last_seen_at = now() - interval '7 days 1 minute' WHERE id_hash = $1`, [hash2]);
    expect((await c.get('/api/expenses')).status).toBe(401); // idle for a week
    expect(await stack.built.sessions.purgeExpired()).toBeGreaterThanOrEqual(2);
  });

  it('log out everywhere ends every session of the account, on every device', async () => {
    const phone = new Client(stack.baseUrl);
    const laptop = new Client(stack.baseUrl);
    await phone.signUp('everywhere@example.com');
    await laptop.login('everywhere@example.com');
    const other = new Client(stack.baseUrl);
    await other.signUp('bystander@example.com');
    const res = await laptop.submit('/account', '/account/logout-everywhere', {});
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/login?signedout=1');
    expect((await laptop.get('/dashboard')).status).toBe(303);
    expect((await phone.get('/api/expenses')).status).toBe(401);
    expect((await other.get('/api/expenses')).status).toBe(200);
  });
});

describe('account deletion', () => {
  it('needs the password and a confirmation, then removes the user and every row of theirs', async () => {
    const c = new Client(stack.baseUrl);
    await c.signUp('leaving@example.com', PASSWORD, stack.sendgrid);
    await c.request('PUT', '/api/budget', { json: { monthlyLimitCents: 100, currency: 'USD' } });
    await c.request('POST', '/api/expenses', { json: expense({ amountCents: 5_000 }) });
    const id = (await userId('leaving@example.com'))!;

    expect((await c.submit('/account', '/account/delete', { password: PASSWORD })).status).toBe(400); // not confirmed
    const wrong = await c.submit('/account', '/account/delete', { password: 'not it at all', confirm: 'yes' });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain('password: is not your current password');
    const gone = await c.submit('/account', '/account/delete', { password: PASSWORD, confirm: 'yes' });
    expect(gone.status).toBe(303);
    expect(gone.headers.get('location')).toBe('/?deleted=1');

    for (const table of ['users', 'expenses', 'user_settings', 'sessions', 'account_tokens', 'mail_outbox', 'mail_quota', 'budget_alerts']) {
      const column = table === 'users' ? 'id' : 'user_id';
      const n = await stack.pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [id]);
      expect(n.rows[0].n, table).toBe(0);
    }
    expect((await c.get('/api/expenses')).status).toBe(401);
    expect((await new Client(stack.baseUrl).login('leaving@example.com')).status).toBe(401);
    expect((await new Client(stack.baseUrl).register('leaving@example.com')).status).toBe(303); // the address is free again
  });
});

describe('throttling', () => {
  it('limits failed logins per account and client address; the right password is refused too while limited', async () => {
    await new Client(stack.baseUrl).signUp('target@example.com');
    const attacker = new Client(stack.baseUrl, '203.0.113.10');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await attacker.login('target@example.com', `guess number ${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const limited = await attacker.login('target@example.com');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.text).toContain('Too many failed logins');
  });

  it('a stranger cannot lock the owner out: a browser that logged in before keeps logging in', async () => {
    const owner = new Client(stack.baseUrl, '198.51.100.20');
    await owner.signUp('victim@example.com'); // this browser now holds a device cookie for the account
    await owner.submit('/dashboard', '/logout', {});
    // a distributed attack exhausts the account's limit for unknown browsers
    for (let i = 0; i < 6; i++) await new Client(stack.baseUrl, `203.0.113.${100 + i}`).login('victim@example.com', `guess ${i}`);
    expect((await new Client(stack.baseUrl, '203.0.113.99').login('victim@example.com', 'one more guess')).status).toBe(429);
    expect((await new Client(stack.baseUrl, '198.51.100.21').login('victim@example.com')).status).toBe(429); // even right, from a new browser
    // the owner's own browser is not affected
    expect((await owner.login('victim@example.com')).status).toBe(303);
    // and a password reset clears the account's limits for new browsers too
    const c = new Client(stack.baseUrl, '198.51.100.22');
    await c.submit('/password/forgot', '/password/forgot', { email: 'victim@example.com' });
    const link = await stack.sendgrid.linkFor('victim@example.com', /Reset your/, 'http://127.0.0.1');
    const token = new URL(link, stack.baseUrl).searchParams.get('token')!;
    expect((await c.submit(link, '/password/reset', { token, password: NEW_PASSWORD })).status).toBe(303);
    expect((await c.login('victim@example.com', NEW_PASSWORD)).status).toBe(303);
  });

  it('stops a password spray from one address across many accounts, without affecting other addresses', async () => {
    const sprayer = new Client(stack.baseUrl, '203.0.113.50');
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await sprayer.login(`spray-${i}@example.com`, 'Summer2026!')).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 429]);
    await new Client(stack.baseUrl).signUp('sprayed@example.com');
    expect((await sprayer.login('sprayed@example.com')).status).toBe(429);
    expect((await new Client(stack.baseUrl, '203.0.113.51').login('sprayed@example.com')).status).toBe(303);
  });

  it('trusts X-Forwarded-For only from proxies: a client cannot pick its own address by prepending to it', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const c = new Client(stack.baseUrl, `9.9.9.${i}, 203.0.113.60`); // spoofed left part, real client on the right
      statuses.push((await c.login('target2@example.com', `wrong ${i}`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
  });

  it('behaves the same for an email without an account (no enumeration through the limits)', async () => {
    await new Client(stack.baseUrl).signUp('exists@example.com');
    const run = async (email: string, address: string) => {
      const c = new Client(stack.baseUrl, address);
      const out: { status: number; error: string | undefined }[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await c.login(email, `wrong ${i}`);
        out.push({ status: r.status, error: /data-testid="error">([^<]*)</.exec(r.text)?.[1]?.replace(/\d+ (seconds|minutes)/, 'N') });
      }
      return out;
    };
    expect(await run('nobody-here@example.com', '203.0.113.70')).toEqual(await run('exists@example.com', '203.0.113.71'));
  });

  it('limits registrations per client address', async () => {
    const c = new Client(stack.baseUrl, '203.0.113.80');
    expect((await c.register('reg-1@example.com')).status).toBe(303);
    expect((await c.register('reg-2@example.com')).status).toBe(303);
    const third = await c.register('reg-3@example.com');
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await new Client(stack.baseUrl, '203.0.113.81').register('reg-3@example.com')).status).toBe(303);
  });

  it('limits reset mails per account whatever the address', async () => {
    await new Client(stack.baseUrl).signUp('many-resets@example.com');
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await new Client(stack.baseUrl).submit('/password/forgot', '/password/forgot', { email: 'many-resets@example.com' })).status);
    expect(statuses).toEqual([200, 200, 429]);
    const metrics = await new Client(stack.metricsUrl).get('/metrics');
    expect(metrics.text).toMatch(/throttled_requests_total\{limiter="resetPerAccount"\} [1-9]/);
    expect(metrics.text).toMatch(/login_attempts_total\{result="throttled"\} [1-9]/);
  });
});
