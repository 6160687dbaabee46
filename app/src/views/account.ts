/** Registration, login, password reset, email verification and the account page. */
import { html, type Html } from '../html.js';
import { csrfField, layout, type PageContext } from './layout.js';

const passwordHint = 'at least 8 characters; a few unrelated words work best';

export function registerPage(ctx: PageContext, email = ''): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Create an account</h1>
<form class="stack" method="post" action="/register">${csrfField(ctx)}
<input type="hidden" name="timeZone" value="" data-browser-time-zone>
<label>Email <input type="email" name="email" value="${email}" required autocomplete="email" maxlength="254"></label>
<label>Password (${passwordHint}) <input type="password" name="password" required minlength="8" maxlength="256" autocomplete="new-password"></label>
<button class="primary" type="submit">Register</button></form>
<p class="muted">Already registered? <a href="/login">Log in</a>.</p></div>`,
  );
}

export function loginPage(ctx: PageContext, email = ''): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Log in</h1>
<form class="stack" method="post" action="/login">${csrfField(ctx)}
<label>Email <input type="email" name="email" value="${email}" required autocomplete="email" maxlength="254"></label>
<label>Password <input type="password" name="password" required autocomplete="current-password" maxlength="256"></label>
<button class="primary" type="submit">Log in</button></form>
<p class="muted"><a href="/password/forgot">Forgot your password?</a> · No account yet? <a href="/register">Register</a>.</p></div>`,
  );
}

export function forgotPasswordPage(ctx: PageContext, email = ''): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Reset your password</h1>
<p>Enter the email of your account and we will send you a link to choose a new password.</p>
<form class="stack" method="post" action="/password/forgot">${csrfField(ctx)}
<label>Email <input type="email" name="email" value="${email}" required autocomplete="email" maxlength="254"></label>
<button class="primary" type="submit">Send the link</button></form></div>`,
  );
}

export function resetPasswordPage(ctx: PageContext, token: string, email: string): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Choose a new password</h1><p>For <strong>${email}</strong>. Every session of this account will be logged out.</p>
<form class="stack" method="post" action="/password/reset">${csrfField(ctx)}
<input type="hidden" name="token" value="${token}">
<input type="text" name="username" value="${email}" autocomplete="username" hidden>
<label>New password (${passwordHint}) <input type="password" name="password" required minlength="8" maxlength="256" autocomplete="new-password"></label>
<button class="primary" type="submit">Set the new password</button></form></div>`,
  );
}

export function linkUnusablePage(ctx: PageContext, what: string, again: Html): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>This link cannot be used</h1><p data-testid="error">This ${what} link is unknown, was already used or has expired.</p><p>${again}</p></div>`,
  );
}

export function verifyEmailPage(ctx: PageContext, token: string): Html {
  return layout(
    ctx,
    html`<div class="card"><h1>Confirm your email address</h1>
<form class="stack" method="post" action="/verify-email">${csrfField(ctx)}<input type="hidden" name="token" value="${token}">
<button class="primary" type="submit">Confirm this address</button></form></div>`,
  );
}

export interface AccountView {
  email: string;
  emailVerified: boolean;
  alertEmail: string | null;
  alertEmailVerified: boolean;
}

export function accountPage(ctx: PageContext, v: AccountView): Html {
  const unverified = !v.emailVerified || (v.alertEmail !== null && v.alertEmail !== v.email && !v.alertEmailVerified);
  return layout(
    ctx,
    html`<h1>Account</h1>
<div class="card"><h2>Email</h2><p>${v.email} · <span data-testid="email-status">${v.emailVerified ? 'verified' : 'not verified'}</span></p>
${v.alertEmail && v.alertEmail !== v.email ? html`<p>Alert email ${v.alertEmail} · <span data-testid="alert-email-status">${v.alertEmailVerified ? 'verified' : 'not verified'}</span></p>` : ''}
<p class="muted">Budget alerts go only to a verified address.</p>
${unverified ? html`<form method="post" action="/account/verify-email">${csrfField(ctx)}<button class="secondary" type="submit">Send the verification link again</button></form>` : ''}</div>
<div class="card"><h2>Change password</h2>
<form class="stack" method="post" action="/account/password">${csrfField(ctx)}
<input type="text" name="username" value="${v.email}" autocomplete="username" hidden>
<label>Current password <input type="password" name="currentPassword" required autocomplete="current-password" maxlength="256"></label>
<label>New password (${passwordHint}) <input type="password" name="newPassword" required minlength="8" maxlength="256" autocomplete="new-password"></label>
<button class="primary" type="submit">Change password</button></form>
<p class="muted">Your other sessions are logged out.</p></div>
<div class="card"><h2>Sessions</h2>
<form method="post" action="/account/logout-everywhere">${csrfField(ctx)}<button class="secondary" type="submit" data-testid="logout-everywhere">Log out everywhere</button></form>
<p class="muted">Ends every session of this account, on every device, including this one.</p></div>
<div class="card"><h2>Delete account</h2>
<form class="stack" method="post" action="/account/delete">${csrfField(ctx)}
<label>Password <input type="password" name="password" required autocomplete="current-password" maxlength="256"></label>
<label class="check"><input type="checkbox" name="confirm" value="yes" required> Delete my account and all my expenses for good</label>
<button class="danger" type="submit">Delete my account</button></form></div>`,
  );
}
