/**
 * Session loading for every route (fastify-plugin: its hook applies to the whole app). It sets
 * `request.session` and `request.user` from the signed `sid` cookie and never refuses a request:
 * the API, page and admin plugins decide what a missing user means for their routes (401, a
 * redirect to /login, 403). Routes with `config.auth === 'none'` (probes, static assets) and
 * requests without a session cookie never touch the database, so those pages keep working while
 * PostgreSQL is down; with a cookie, an unreachable database leaves the request anonymous with
 * `session.state === 'unavailable'`, and no free connection within the pool's wait (overload)
 * with `session.state === 'busy'` (pages show a notice, routes that need the user answer 503).
 */
import fp from 'fastify-plugin';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_COOKIE, type SessionLookup, type SessionStore } from '../sessions.js';
import { DatabaseBusyError, DatabaseUnavailableError } from '../db.js';
import type { User } from '../repo.js';

declare module 'fastify' {
  interface FastifyRequest {
    user: User | null;
    session: SessionLookup;
  }
  interface FastifyContextConfig {
    /** `none` skips session loading entirely (probes, metrics, assets); default `optional`. */
    auth?: 'none' | 'optional' | 'user';
  }
}

export interface SessionPluginOptions {
  sessions: SessionStore;
}

/**
 * For a route that needs a logged-in user: true when there is one.
 * @throws DatabaseUnavailableError when the session could not be checked (PostgreSQL unreachable).
 * @throws DatabaseBusyError when it could not be checked because no database connection became free in time.
 */
export function hasUser(req: FastifyRequest): boolean {
  if (req.user) return true;
  if (req.session?.state === 'unavailable') throw new DatabaseUnavailableError();
  if (req.session?.state === 'busy') throw new DatabaseBusyError();
  return false;
}

/** onRequest hook of page plugins: routes marked `config.auth: 'user'` send anonymous visitors to /login (303). */
export async function redirectAnonymous(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (req.routeOptions.config?.auth === 'user' && !hasUser(req)) return reply.redirect('/login', 303);
}

const sessionPlugin: FastifyPluginAsync<SessionPluginOptions> = async (app, { sessions }) => {
  app.decorateRequest('user', null);
  app.decorateRequest('session', null as unknown as { getter(): SessionLookup });

  app.addHook('onRequest', async (req) => {
    req.session = { state: 'none' };
    if (req.routeOptions.config?.auth === 'none') return;
    const raw = req.cookies[SESSION_COOKIE];
    if (!raw) return;
    const unsigned = req.unsignCookie(raw);
    if (!unsigned.valid || !unsigned.value) return;
    req.session = await sessions.load(unsigned.value);
    if (req.session.state === 'ok') req.user = req.session.user;
  });
};

export default fp(sessionPlugin, { name: 'session', dependencies: ['@fastify/cookie'] });
