/**
 * Account pages: registration, login/logout, password reset by emailed link, email verification,
 * and the account page (password change, log out everywhere, deletion). Its hook: routes marked
 * `config.auth: 'user'` redirect anonymous visitors to /login.
 *
 * Throttling (`throttle.ts`): logins per client address, per account and address, and per account
 * for browsers that never logged in to it (a signed `device` cookie, path /login, marks the ones
 * that did); registrations and reset requests per address; reset and verification mails per
 * account. Answers never say whether an email has an account.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { Config } from '../config.js';
import type { Accounts } from '../accounts.js';
import type { Metrics } from '../metrics.js';
import type { SessionStore } from '../sessions.js';
import { SESSION_ABSOLUTE_SECONDS, SESSION_COOKIE } from '../sessions.js';
import { TooManyRequestsError, type Throttle } from '../throttle.js';
import * as repo from '../repo.js';
import { assertStrongPassword, verifyNothing, verifyPassword } from '../passwords.js';
import {
  accountPage,
  forgotPasswordPage,
  linkUnusablePage,
  loginPage,
  registerPage,
  resetPasswordPage,
  verifyEmailPage,
} from '../views/account.js';
import { html } from '../html.js';
import { credentialsSchema, emailSchema, firstIssue, formString as str, parseInput, passwordSchema, timeZoneSchema, ValidationError } from '../validation.js';
import { pageContext as ctx } from './html.js';
import { redirectAnonymous } from './session.js';

export interface AccountPluginOptions {
  config: Config;
  pool: pg.Pool;
  sessions: SessionStore;
  accounts: Accounts;
  throttle: Throttle;
  metrics: Metrics;
}

const DEVICE_COOKIE = 'device';
/** Accounts one browser's device cookie remembers (the most recent ones). */
const DEVICE_ACCOUNTS = 5;
const DEVICE_MAX_AGE_SECONDS = 365 * 24 * 3600;

const FLASHES: Record<string, string> = {
  registered: 'Thanks! We sent a confirmation link to your email address. You can log in now.',
  reset: 'Your password was changed and every session logged out. Log in with the new password.',
  verified: 'Your email address is confirmed.',
  signedout: 'You were logged out on every device.',
  deleted: 'Your account and all its data were deleted.',
};
const flashFrom = (req: FastifyRequest) => {
  const q = req.query as Record<string, unknown>;
  return Object.keys(FLASHES).find((k) => q[k] === '1');
};

const accountPlugin: FastifyPluginAsync<AccountPluginOptions> = async (app, opts) => {
  const { config, pool, sessions, accounts, throttle, metrics } = opts;
  app.addHook('onRequest', redirectAnonymous);

  const csrf = { preHandler: app.csrfProtection };
  const user = { config: { auth: 'user' as const } };
  const cookie = { httpOnly: true, sameSite: 'lax' as const, secure: config.secureCookies, signed: true };

  /** The device cookie: a random device id and the accounts that logged in from this browser. */
  function readDevice(req: FastifyRequest): { id: string; users: string[] } | undefined {
    const raw = req.cookies[DEVICE_COOKIE];
    if (!raw) return undefined;
    const unsigned = req.unsignCookie(raw);
    if (!unsigned.valid || !unsigned.value) return undefined;
    const [id, ...users] = unsigned.value.split('.');
    return id ? { id, users } : undefined;
  }

  function rememberDevice(req: FastifyRequest, reply: FastifyReply, userId: string): void {
    const device = readDevice(req) ?? { id: randomBytes(16).toString('base64url'), users: [] };
    const users = [...device.users.filter((u) => u !== userId), userId].slice(-DEVICE_ACCOUNTS);
    reply.setCookie(DEVICE_COOKIE, [device.id, ...users].join('.'), { ...cookie, path: '/login', maxAge: DEVICE_MAX_AGE_SECONDS });
  }

  async function startSession(req: FastifyRequest, reply: FastifyReply, userId: string): Promise<void> {
    const token = await sessions.create(userId);
    if (req.session.state === 'ok') await sessions.destroy(req.session.token);
    reply.setCookie(SESSION_COOKIE, token, { ...cookie, path: '/', maxAge: SESSION_ABSOLUTE_SECONDS });
  }

  const endSession = (reply: FastifyReply) => reply.clearCookie(SESSION_COOKIE, { path: '/' });

  /** Throws a 429 when `limit` refuses one more `key` event. */
  async function take(name: Parameters<Throttle['take']>[0], key: string, what: string) {
    const wait = await throttle.take(name, key);
    if (wait > 0) throw new TooManyRequestsError(wait, what);
  }

  // ---- registration -----------------------------------------------------------------------------
  app.get('/register', async (req, reply) => reply.page(registerPage(ctx(req, reply, 'Register'))));

  app.post('/register', csrf, async (req, reply) => {
    const email = str(req.body, 'email');
    const fail = (message: string) => reply.page(registerPage(ctx(req, reply, 'Register', { error: message }), email), 400);
    await take('registerPerAddress', req.ip, 'Too many registrations from your network.');
    const r = credentialsSchema.safeParse({ email, password: str(req.body, 'password') });
    if (!r.success) {
      const { field, message } = firstIssue(r.error);
      return fail(`${field}: ${message}`);
    }
    const zone = str(req.body, 'timeZone');
    try {
      await assertStrongPassword(r.data.password, [r.data.email]);
      const timeZone = zone === '' ? 'UTC' : parseInput(timeZoneSchema, zone, 'timeZone');
      await accounts.register(r.data.email, r.data.password, timeZone);
    } catch (err) {
      if (err instanceof ValidationError) return fail(err.message);
      throw err;
    }
    return reply.redirect('/login?registered=1', 303);
  });

  // ---- login and logout ---------------------------------------------------------------------------
  app.get('/login', async (req, reply) => {
    const flash = flashFrom(req);
    return reply.page(loginPage(ctx(req, reply, 'Log in', { flash: flash && FLASHES[flash] })));
  });

  app.post('/login', csrf, async (req, reply) => {
    const email = str(req.body, 'email').trim().toLowerCase();
    const password = str(req.body, 'password');
    const found = email ? await repo.findUserByEmail(pool, email) : null;
    const device = readDevice(req);
    const keys = { address: req.ip, account: email, trustedDevice: found && device?.users.includes(found.id) ? device.id : undefined };
    const wait = await throttle.loginWait(keys);
    if (wait > 0) {
      metrics.logins.inc({ result: 'throttled' });
      const err = new TooManyRequestsError(wait, 'Too many failed logins. If you forgot your password, reset it.');
      reply.header('retry-after', String(err.retryAfterSeconds));
      return reply.page(loginPage(ctx(req, reply, 'Log in', { error: err.message }), email), 429);
    }
    const ok = found ? await verifyPassword(found.passwordHash, password) : await verifyNothing(password);
    if (!found || !ok) {
      await throttle.loginFailed(keys);
      metrics.logins.inc({ result: 'failure' });
      req.log.info('login failed');
      return reply.page(loginPage(ctx(req, reply, 'Log in', { error: 'Invalid email or password.' }), email), 401);
    }
    await throttle.loginSucceeded(keys);
    await startSession(req, reply, found.id);
    rememberDevice(req, reply, found.id);
    metrics.logins.inc({ result: 'success' });
    req.log.info({ userId: found.id }, 'user logged in');
    return reply.redirect('/dashboard', 303);
  });

  app.post('/logout', csrf, async (req, reply) => {
    if (req.session.state === 'ok') await sessions.destroy(req.session.token);
    endSession(reply);
    return reply.redirect('/', 303);
  });

  // ---- password reset -----------------------------------------------------------------------------
  app.get('/password/forgot', async (req, reply) => reply.page(forgotPasswordPage(ctx(req, reply, 'Reset your password'))));

  app.post('/password/forgot', csrf, async (req, reply) => {
    const raw = str(req.body, 'email');
    let email: string;
    try {
      email = parseInput(emailSchema, raw, 'email');
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return reply.page(forgotPasswordPage(ctx(req, reply, 'Reset your password', { error: err.message }), raw), 400);
    }
    await take('resetPerAddress', req.ip, 'Too many reset requests from your network.');
    await take('resetPerAccount', email, 'Too many reset requests for this address.');
    await accounts.requestPasswordReset(email);
    const flash = `If an account exists for ${email}, we sent it a link to choose a new password. The link works once, for one hour.`;
    return reply.page(forgotPasswordPage(ctx(req, reply, 'Reset your password', { flash })));
  });

  const unusable = (req: FastifyRequest, reply: FastifyReply, what: string) =>
    reply.page(linkUnusablePage(ctx(req, reply, 'Link expired'), what, html`<a href="/password/forgot">Ask for a new reset link</a>`), 400);

  app.get('/password/reset', async (req, reply) => {
    const token = str(req.query, 'token');
    const email = token ? await accounts.resetTokenEmail(token) : null;
    if (!email) return unusable(req, reply, 'password reset');
    return reply.page(resetPasswordPage(ctx(req, reply, 'Choose a new password'), token, email));
  });

  app.post('/password/reset', csrf, async (req, reply) => {
    const token = str(req.body, 'token');
    const password = str(req.body, 'password');
    try {
      parseInput(passwordSchema, password, 'password');
      const email = token ? await accounts.resetPassword(token, password) : null;
      if (!email) return unusable(req, reply, 'password reset');
      await throttle.clearAccount(email, req.ip);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const email = await accounts.resetTokenEmail(token);
      if (!email) return unusable(req, reply, 'password reset');
      return reply.page(resetPasswordPage(ctx(req, reply, 'Choose a new password', { error: err.message }), token, email), 400);
    }
    endSession(reply);
    return reply.redirect('/login?reset=1', 303);
  });

  // ---- email verification -------------------------------------------------------------------------
  // GET only shows a button: mail scanners that prefetch links must not consume the token.
  app.get('/verify-email', async (req, reply) => {
    const token = str(req.query, 'token');
    return reply.page(verifyEmailPage(ctx(req, reply, 'Confirm your email'), token));
  });

  app.post('/verify-email', csrf, async (req, reply) => {
    const token = str(req.body, 'token');
    const email = token ? await accounts.verifyEmail(token) : null;
    if (!email) {
      const again = req.user ? html`<a href="/account">Send a new link from your account page</a>` : html`<a href="/login">Log in to ask for a new link</a>`;
      return reply.page(linkUnusablePage(ctx(req, reply, 'Link expired'), 'verification', again), 400);
    }
    return reply.redirect(req.user ? '/account?verified=1' : '/login?verified=1', 303);
  });

  // ---- the account page -----------------------------------------------------------------------------
  async function accountView(req: FastifyRequest, reply: FastifyReply, extra: { flash?: string; error?: string } = {}, status = 200) {
    const u = req.user!;
    const s = await repo.getSettings(pool, u.id);
    const view = { email: u.email, emailVerified: u.emailVerified, alertEmail: s.alertEmail, alertEmailVerified: s.alertEmailVerified };
    return reply.page(accountPage(ctx(req, reply, 'Account', extra), view), status);
  }

  app.get('/account', user, async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const flash = q.verified === '1' ? FLASHES.verified : q.changed === '1' ? 'Password changed; your other sessions were logged out.' : q.sent === '1' ? 'We sent a new verification link.' : undefined;
    return accountView(req, reply, { flash });
  });

  app.post('/account/password', { ...user, ...csrf }, async (req, reply) => {
    if (req.session.state !== 'ok') return reply.redirect('/login', 303);
    try {
      parseInput(passwordSchema, str(req.body, 'newPassword'), 'newPassword');
      await accounts.changePassword(req.user!, str(req.body, 'currentPassword'), str(req.body, 'newPassword'), req.session.token);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return accountView(req, reply, { error: err.message }, 400);
    }
    return reply.redirect('/account?changed=1', 303);
  });

  app.post('/account/verify-email', { ...user, ...csrf }, async (req, reply) => {
    const u = req.user!;
    await take('verifyPerAccount', u.id, 'Too many verification emails for this account.');
    const s = await repo.getSettings(pool, u.id);
    await accounts.resendVerification(u, s.alertEmailVerified ? null : s.alertEmail);
    return reply.redirect('/account?sent=1', 303);
  });

  app.post('/account/logout-everywhere', { ...user, ...csrf }, async (req, reply) => {
    const ended = await sessions.destroyAll(req.user!.id);
    req.log.info({ userId: req.user!.id, endedSessions: ended }, 'logged out everywhere');
    endSession(reply);
    return reply.redirect('/login?signedout=1', 303);
  });

  app.post('/account/delete', { ...user, ...csrf }, async (req, reply) => {
    try {
      if (str(req.body, 'confirm') !== 'yes') throw new ValidationError('confirm', 'must be ticked to delete the account');
      await accounts.deleteAccount(req.user!, str(req.body, 'password'));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return accountView(req, reply, { error: err.message }, 400);
    }
    endSession(reply);
    return reply.redirect('/?deleted=1', 303);
  });
};

export default accountPlugin;
