/**
 * Outgoing email through SendGrid's v3 Mail Send API with the official `@sendgrid/mail` client.
 * `SENDGRID_API_URL` replaces the client's base URL (default `https://api.sendgrid.com/`), so tests
 * point the real client at a local stub.
 */
import { MailService } from '@sendgrid/mail';
import { Client } from '@sendgrid/client';
import type { Config } from './config.js';

export interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  /** Sends one message. @throws the client's ResponseError (HTTP status in `code`) or a network error. */
  send(mail: Mail): Promise<void>;
}

/** Builds a mailer with its own client instance (no global state). Requests time out after 10 s. */
export function createSendgridMailer(cfg: Config['sendgrid'], from: string): Mailer {
  const client = new Client();
  client.setApiKey(cfg.apiKey);
  if (cfg.apiUrl) client.setDefaultRequest('baseUrl', cfg.apiUrl);
  const service = new MailService();
  service.setClient(client);
  service.setTimeout(10_000);
  return {
    async send(mail) {
      await service.send({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
    },
  };
}
