/**
 * The emails the app sends, rendered from an outbox row's `kind` and `payload` at send time.
 * Text and HTML parts carry the same content; every interpolated value in the HTML is escaped.
 */
import { escapeHtml } from './html.js';
import { formatMoney } from './money.js';
import type { Mail } from './mailer.js';

export type MailKind = 'budget_alert' | 'verify_email' | 'password_reset' | 'account_exists';

/** What each kind carries in `mail_outbox.payload`. */
export interface MailPayloads {
  budget_alert: { threshold: number; month: string; spentCents: number; limitCents: number; currency: string };
  /** `link` holds a single-use token; `expiresAt` is an ISO instant. */
  verify_email: { link: string; expiresAt: string };
  password_reset: { link: string; expiresAt: string };
  account_exists: Record<string, never>;
}

/** Kinds whose payload holds a secret token: cleared once sent, never sent after `expiresAt`. */
export const TOKEN_KINDS: readonly MailKind[] = ['verify_email', 'password_reset'];

function message(to: string, subject: string, paragraphs: { text: string; link?: string }[]): Mail {
  const text = paragraphs.map((p) => (p.link ? `${p.text}\n${p.link}` : p.text)).join('\n\n') + '\n';
  const html = paragraphs
    .map((p) => (p.link ? `<p><a href="${escapeHtml(p.link)}">${escapeHtml(p.text)}</a></p>` : `<p>${escapeHtml(p.text)}</p>`))
    .join('');
  return { to, subject, text, html };
}

/** Renders one outbox row. `baseUrl` is PUBLIC_BASE_URL (links in the message). */
export function renderMail(kind: MailKind, to: string, payload: Record<string, any>, baseUrl: string): Mail {
  switch (kind) {
    case 'budget_alert': {
      const p = payload as MailPayloads['budget_alert'];
      const pct = Math.floor((p.spentCents * 100) / p.limitCents);
      const spent = formatMoney(p.spentCents, p.currency);
      const limit = formatMoney(p.limitCents, p.currency);
      const subject =
        p.threshold >= 100 ? `Budget alert: you reached your ${p.month} budget` : `Budget alert: ${p.threshold}% of your ${p.month} budget used`;
      return message(to, subject, [
        { text: `You have spent ${spent} of your ${limit} monthly budget for ${p.month} (${pct}%).` },
        { text: 'Open your dashboard', link: `${baseUrl}/dashboard?month=${p.month}` },
      ]);
    }
    case 'verify_email':
      return message(to, 'Confirm your email address', [
        { text: 'Confirm that this address belongs to you to receive budget alerts from Expense Tracker.' },
        { text: 'Confirm my address', link: payload.link },
        { text: `The link works once and expires at ${payload.expiresAt}. If you did not ask for it, ignore this email.` },
      ]);
    case 'password_reset':
      return message(to, 'Reset your Expense Tracker password', [
        { text: 'Someone (hopefully you) asked to reset the password of your Expense Tracker account.' },
        { text: 'Choose a new password', link: payload.link },
        { text: `The link works once and expires at ${payload.expiresAt}. If you did not ask for it, ignore this email: your password stays as it is.` },
      ]);
    case 'account_exists':
      return message(to, 'You already have an Expense Tracker account', [
        { text: 'Someone tried to register a new account with this email address, which already has one.' },
        { text: 'If it was you, log in', link: `${baseUrl}/login` },
        { text: 'or reset your password', link: `${baseUrl}/password/forgot` },
        { text: 'If it was not you, nothing changed and you can ignore this email.' },
      ]);
  }
}
