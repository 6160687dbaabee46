/**
 * Administrator pages. Its hook: anonymous visitors are sent to /login (303), logged-in users
 * who are not administrators get a 403 page.
 */
import type { FastifyPluginAsync } from 'fastify';
import type pg from 'pg';
import * as repo from '../repo.js';
import { customersPage } from '../views/admin.js';
import { pageParams } from '../validation.js';
import { pageContext } from './html.js';
import { hasUser } from './session.js';

export interface AdminPluginOptions {
  pool: pg.Pool;
}

const adminPlugin: FastifyPluginAsync<AdminPluginOptions> = async (app, { pool }) => {
  app.addHook('onRequest', async (req, reply) => {
    if (!hasUser(req)) return reply.redirect('/login', 303);
    if (!req.user!.isAdmin) throw Object.assign(new Error('Administrators only.'), { statusCode: 403 });
  });

  app.get('/customers', async (req, reply) => {
    const { page, limit } = pageParams(req.query, 50);
    return reply.page(customersPage(pageContext(req, reply, 'Customers'), await repo.listCustomers(pool, page, limit)));
  });
};

export default adminPlugin;
