/**
 * HTML responses for the whole app (fastify-plugin): `reply.page(body, status)` sends a rendered
 * page uncached, {@link pageContext} builds the layout context (user, CSRF token, title, flash,
 * a notice while PostgreSQL is unreachable or overloaded), and the app-wide error and not-found handlers render
 * HTML error pages (with `Retry-After` on 503 and 429). The JSON API replaces both handlers inside
 * its own prefix.
 */
import fp from 'fastify-plugin';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Html } from '../html.js';
import type { PageContext } from '../views/layout.js';
import { errorPage } from '../views/public.js';
import { applyErrorHeaders, describeError } from './errors.js';

declare module 'fastify' {
  interface FastifyReply {
    /** Sends `body` as `text/html` with `cache-control: no-store` and `status` (default 200). */
    page(body: Html, status?: number): FastifyReply;
  }
}

/** The layout context of a page: who is logged in, a fresh CSRF token, the title and messages. */
export function pageContext(
  req: FastifyRequest,
  reply: FastifyReply,
  title: string,
  extra: { flash?: string | undefined; error?: string | undefined } = {},
): PageContext {
  return {
    user: req.user ?? null,
    csrfToken: reply.generateCsrf(),
    title,
    degraded: req.session?.state === 'unavailable' ? 'unavailable' : req.session?.state === 'busy' ? 'busy' : undefined,
    ...extra,
  };
}

const htmlPlugin: FastifyPluginAsync = async (app) => {
  app.decorateReply('page', function (this: FastifyReply, body: Html, status = 200) {
    return this.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body.value);
  });

  app.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const answer = describeError(err, req);
    applyErrorHeaders(reply, answer);
    const title = answer.status === 503 ? 'Temporarily unavailable' : String(answer.status);
    return reply.page(errorPage(pageContext(req, reply, title), answer.status, answer.message), answer.status);
  });

  app.setNotFoundHandler(async (req, reply) =>
    reply.page(errorPage(pageContext(req, reply, 'Not found'), 404, 'This page does not exist.'), 404),
  );
};

export default fp(htmlPlugin, { name: 'html', dependencies: ['@fastify/csrf-protection'] });
