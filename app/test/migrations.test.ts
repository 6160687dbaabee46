/**
 * Schema migrations on a real PostgreSQL: a database holding data of the first schema (users,
 * expenses, budget alerts sent and pending) upgrades with its history kept (alerts move to the
 * mail outbox), migrates down and up again cleanly, and two concurrent `migrate` runs (two
 * replicas' initContainers) apply each migration once.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '@expense-tracker/testkit/servers/index';
import { migrate } from '../src/db.js';

const DIR = fileURLToPath(new URL('../migrations', import.meta.url));
let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

async function run(url: string, direction: 'up' | 'down', count: number) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await runner({ dbClient: client, dir: DIR, migrationsTable: 'pgmigrations', direction, count, singleTransaction: true, log: () => {} });
  } finally {
    await client.end();
  }
}

describe('migrations', () => {
  it('upgrade keeps the first schema\'s data and moves budget alerts to the outbox; down and up again work', async () => {
    const url = await server.createDatabase('upgrade');
    await run(url, 'up', 2); // the first schema and the imports tables, as deployed before this migration
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const u = await db.query(`INSERT INTO users (email, password_hash, is_admin) VALUES ('old@example.com', 'h', true) RETURNING id`);
      const id = u.rows[0].id;
      await db.query(`INSERT INTO expenses (user_id, amount_cents, currency, category, spent_on) VALUES ($1, 500, 'USD', 'Food', '2026-01-05')`, [id]);
      await db.query(
        `INSERT INTO budget_alerts (user_id, month, threshold, status, recipient, spent_cents, limit_cents, currency, attempts, sent_at)
         VALUES ($1, '2026-01-01', 80, 'sent', 'old@example.com', 800, 1000, 'USD', 1, now()),
                ($1, '2026-01-01', 100, 'pending', 'old@example.com', 1000, 1000, 'USD', 2, NULL),
                ($1, '2026-02-01', 80, 'superseded', 'old@example.com', 1000, 1000, 'USD', 0, NULL)`,
        [id],
      );

      await run(url, 'up', 1); // this migration only: later ones (imports merge) come after it
      const user = await db.query(`SELECT is_admin, email_verified_at, time_zone FROM users WHERE id = $1`, [id]);
      expect(user.rows[0]).toEqual({ is_admin: true, email_verified_at: null, time_zone: 'UTC' });
      const outbox = await db.query(`SELECT kind, status, attempts, payload, dedupe_key FROM mail_outbox ORDER BY id`);
      expect(outbox.rows).toEqual([
        { kind: 'budget_alert', status: 'sent', attempts: 1, payload: { threshold: 80, month: '2026-01', spentCents: 800, limitCents: 1000, currency: 'USD' }, dedupe_key: `budget:${id}:2026-01:80:0` },
        { kind: 'budget_alert', status: 'pending', attempts: 2, payload: { threshold: 100, month: '2026-01', spentCents: 1000, limitCents: 1000, currency: 'USD' }, dedupe_key: `budget:${id}:2026-01:100:0` },
      ]);
      const alerts = await db.query(`SELECT threshold, status, generation, mail_id IS NOT NULL AS has_mail FROM budget_alerts ORDER BY month, threshold`);
      expect(alerts.rows).toEqual([
        { threshold: 80, status: 'queued', generation: 0, has_mail: true },
        { threshold: 100, status: 'queued', generation: 0, has_mail: true },
        { threshold: 80, status: 'superseded', generation: 0, has_mail: false },
      ]);

      await run(url, 'down', 1); // back to the schema before it
      const back = await db.query(`SELECT threshold, status, recipient, attempts FROM budget_alerts ORDER BY month, threshold`);
      expect(back.rows).toEqual([
        { threshold: 80, status: 'sent', recipient: 'old@example.com', attempts: 1 },
        { threshold: 100, status: 'pending', recipient: 'old@example.com', attempts: 2 },
        { threshold: 80, status: 'superseded', recipient: '', attempts: 0 },
      ]);
      await run(url, 'up', Infinity);
      expect((await db.query(`SELECT count(*)::int AS n FROM expenses`)).rows[0].n).toBe(1);
    } finally {
      await db.end();
    }
  });

  it('two concurrent runs apply every migration once', async () => {
    const url = await server.createDatabase('concurrent');
    const [a, b] = await Promise.all([migrate({ connectionString: url }), migrate({ connectionString: url })]);
    const files = readdirSync(DIR).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, '')).sort();
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect([...a, ...b].sort()).toEqual(files);
  });
});
