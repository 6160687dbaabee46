/**
 * Session loading for every route (fastify-plugin: its hook applies to the whole app). It sets
 * `request.session` and `request.user` from the signed `sid` cookie; it never refuses a request:
 * the API, page and admin plugins decide what a missing user means for their routes (401, a
 * redirect to /login, 403). Routes with `config.auth === 'none'` (probes, static assets) skip the
 * lookup entirely.
 */
import fp from 'fastify-plugin';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { SESSION_COOKIE, SessionsUnavailableError, type SessionLookup, type SessionStore } from '../sessions.js';
import * as repo from '../repo.js';
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
  pool: pg.Pool;
  sessions: SessionStore;
}

/**
 * Outcome for a route that needs a logged-in user: true when there is one.
 * @throws SessionsUnavailableError when the session could not be checked (store unreachable).
 */
export function hasUser(req: FastifyRequest): boolean {
  if (req.user) return true;
  if (req.session?.state === 'unavailable') throw new SessionsUnavailableError(undefined);
  return false;
}

const sessionPlugin: FastifyPluginAsync<SessionPluginOptions> = async (app, { pool, sessions }) => {
  app.decorateRequest('user', null);
  app.decorateRequest('session', null as unknown as { getter(): SessionLookup });

  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.auth === 'none') return;
    req.session = { state: 'none' };
    const raw = req.cookies[SESSION_COOKIE];
    if (!raw) return;
    const unsigned = req.unsignCookie(raw);
    if (unsigned.valid && unsigned.value) req.session = await sessions.load(unsigned.value);
    if (req.session.state === 'ok') {
      req.user = await repo.findUserById(pool, req.session.userId);
      if (!req.user) req.session = { state: 'none' };
    }
  });
};

export default fp(sessionPlugin, { name: 'session', dependencies: ['@fastify/cookie'] });
