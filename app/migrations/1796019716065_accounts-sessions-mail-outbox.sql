-- Up Migration
-- Accounts (email verification, time zone), durable sessions, single-use account tokens, a mail
-- outbox shared by every kind of email with a daily per-account quota, and budget alerts that
-- re-arm when the limit changes.

ALTER TABLE users
  ADD COLUMN email_verified_at   timestamptz,
  ADD COLUMN password_changed_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN time_zone           text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64);

-- Sessions live here (Redis is only a cache): the cookie carries a random 256-bit token, the
-- table its SHA-256, so a copy of the table cannot be replayed as cookies.
CREATE TABLE sessions (
  id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  -- absolute end of the session, whatever its activity
  expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Emailed single-use tokens (SHA-256 stored): password resets and address verifications.
CREATE TABLE account_tokens (
  token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose    text NOT NULL CHECK (purpose IN ('password_reset', 'verify_email')),
  -- the address the token was mailed to (the account email or the alert email being verified)
  email      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);

ALTER TABLE user_settings
  ADD COLUMN alert_email_verified_at timestamptz,
  -- incremented when the limit or its currency changes: budget alerts of the new limit re-arm
  ADD COLUMN budget_generation integer NOT NULL DEFAULT 0;

-- Every outgoing email. Rows are claimed with a lease (next_attempt_at moved forward), so several
-- replicas send each row once; dedupe_key makes enqueueing idempotent.
CREATE TABLE mail_outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind            text NOT NULL CHECK (kind IN ('budget_alert', 'verify_email', 'password_reset', 'account_exists')),
  dedupe_key      text UNIQUE,
  recipient       text NOT NULL,
  payload         jsonb NOT NULL DEFAULT '{}',
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'suppressed', 'expired')),
  attempts        integer NOT NULL DEFAULT 0,
  last_error      text,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  sent_at         timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_outbox_pending_idx ON mail_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX mail_outbox_user_idx ON mail_outbox (user_id);

-- Emails accepted per account per UTC day (the daily cap is checked against this atomically).
CREATE TABLE mail_quota (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  day     date NOT NULL,
  count   integer NOT NULL,
  PRIMARY KEY (user_id, day)
);

-- Budget alerts become a ledger of thresholds reached per limit generation; the email itself is
-- a mail_outbox row. Existing rows keep their history: sent and pending ones move to the outbox.
ALTER TABLE budget_alerts ADD COLUMN generation integer NOT NULL DEFAULT 0;
ALTER TABLE budget_alerts ADD COLUMN mail_id bigint REFERENCES mail_outbox (id) ON DELETE SET NULL;
INSERT INTO mail_outbox (user_id, kind, dedupe_key, recipient, payload, status, attempts, last_error, next_attempt_at, sent_at, created_at)
SELECT user_id, 'budget_alert',
       'budget:' || user_id || ':' || to_char(month, 'YYYY-MM') || ':' || threshold || ':0',
       recipient,
       jsonb_build_object('threshold', threshold, 'month', to_char(month, 'YYYY-MM'), 'spentCents', spent_cents,
                          'limitCents', limit_cents, 'currency', trim(currency)),
       status, attempts, last_error, next_attempt_at, sent_at, created_at
  FROM budget_alerts WHERE status IN ('pending', 'sent');
UPDATE budget_alerts a SET mail_id = o.id FROM mail_outbox o
 WHERE o.dedupe_key = 'budget:' || a.user_id || ':' || to_char(a.month, 'YYYY-MM') || ':' || a.threshold || ':0';
ALTER TABLE budget_alerts DROP CONSTRAINT budget_alerts_once;
ALTER TABLE budget_alerts ADD CONSTRAINT budget_alerts_once UNIQUE (user_id, month, threshold, generation);
DROP INDEX budget_alerts_pending_idx;
ALTER TABLE budget_alerts DROP CONSTRAINT budget_alerts_status_check;
UPDATE budget_alerts SET status = 'queued' WHERE status IN ('pending', 'sent');
ALTER TABLE budget_alerts ADD CONSTRAINT budget_alerts_status_check CHECK (status IN ('queued', 'superseded'));
ALTER TABLE budget_alerts
  DROP COLUMN recipient, DROP COLUMN spent_cents, DROP COLUMN limit_cents, DROP COLUMN currency,
  DROP COLUMN attempts, DROP COLUMN last_error, DROP COLUMN next_attempt_at, DROP COLUMN sent_at;

-- Pagination orders expenses by (spent_on, created_at, id): the index covers the tie-breaker.
DROP INDEX expenses_user_spent_on_idx;
CREATE INDEX expenses_user_spent_on_idx ON expenses (user_id, spent_on DESC, created_at DESC, id DESC);

-- Down Migration
DROP INDEX expenses_user_spent_on_idx;
CREATE INDEX expenses_user_spent_on_idx ON expenses (user_id, spent_on DESC, created_at DESC);
-- Alerts of later limit generations have no place in the old one-per-month ledger.
DELETE FROM budget_alerts WHERE generation > 0;
ALTER TABLE budget_alerts DROP CONSTRAINT budget_alerts_status_check;
ALTER TABLE budget_alerts
  ADD COLUMN recipient text, ADD COLUMN spent_cents bigint, ADD COLUMN limit_cents bigint, ADD COLUMN currency char(3),
  ADD COLUMN attempts integer NOT NULL DEFAULT 0, ADD COLUMN last_error text,
  ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(), ADD COLUMN sent_at timestamptz;
UPDATE budget_alerts a SET recipient = o.recipient, spent_cents = (o.payload->>'spentCents')::bigint,
       limit_cents = (o.payload->>'limitCents')::bigint, currency = o.payload->>'currency', attempts = o.attempts,
       last_error = o.last_error, next_attempt_at = o.next_attempt_at, sent_at = o.sent_at,
       status = CASE WHEN o.status = 'sent' THEN 'sent' ELSE 'pending' END
  FROM mail_outbox o WHERE o.id = a.mail_id;
-- Queued alerts whose mail is gone cannot be sent by the old schema: keep them as superseded.
UPDATE budget_alerts SET status = 'superseded' WHERE status = 'queued';
UPDATE budget_alerts SET recipient = '', spent_cents = 0, limit_cents = 1, currency = 'USD' WHERE recipient IS NULL;
ALTER TABLE budget_alerts ALTER COLUMN recipient SET NOT NULL, ALTER COLUMN spent_cents SET NOT NULL,
  ALTER COLUMN limit_cents SET NOT NULL, ALTER COLUMN currency SET NOT NULL;
ALTER TABLE budget_alerts ADD CONSTRAINT budget_alerts_status_check CHECK (status IN ('pending', 'sent', 'superseded'));
ALTER TABLE budget_alerts DROP CONSTRAINT budget_alerts_once;
ALTER TABLE budget_alerts ADD CONSTRAINT budget_alerts_once UNIQUE (user_id, month, threshold);
CREATE INDEX budget_alerts_pending_idx ON budget_alerts (next_attempt_at) WHERE status = 'pending';
ALTER TABLE budget_alerts DROP COLUMN mail_id, DROP COLUMN generation;
DROP TABLE mail_quota;
DROP TABLE mail_outbox;
ALTER TABLE user_settings DROP COLUMN budget_generation, DROP COLUMN alert_email_verified_at;
DROP TABLE account_tokens;
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN time_zone, DROP COLUMN password_changed_at, DROP COLUMN email_verified_at;
