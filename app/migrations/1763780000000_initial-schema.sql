-- Up Migration
-- Users, expenses, per-user budget settings, admin grants and the budget-alert outbox.
-- Money is stored as integer minor units (bigint cents) with an ISO 4217 code.

CREATE TABLE users (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
  password_hash text NOT NULL,
  is_admin      boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- Emails granted admin before (or after) they register: `cli create-admin <email>`.
CREATE TABLE admin_grants (
  email      text PRIMARY KEY CHECK (email = lower(email)),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE expenses (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  currency     char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  category     text NOT NULL CHECK (length(category) BETWEEN 1 AND 40),
  description  text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  spent_on     date NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX expenses_user_spent_on_idx ON expenses (user_id, spent_on DESC, created_at DESC);

CREATE TABLE user_settings (
  user_id             uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  monthly_limit_cents bigint CHECK (monthly_limit_cents IS NULL OR monthly_limit_cents > 0),
  currency            char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
  alert_email         text CHECK (alert_email IS NULL OR length(alert_email) BETWEEN 3 AND 254),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

-- One row per (user, month, threshold): the unique constraint is what makes alerts exactly-once
-- across retries and replicas. Rows are an outbox: 'pending' rows are sent by the background loop.
CREATE TABLE budget_alerts (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  month           date NOT NULL CHECK (extract(day FROM month) = 1),
  threshold       smallint NOT NULL CHECK (threshold IN (80, 100)),
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'superseded')),
  recipient       text NOT NULL,
  spent_cents     bigint NOT NULL,
  limit_cents     bigint NOT NULL,
  currency        char(3) NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  last_error      text,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  sent_at         timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT budget_alerts_once UNIQUE (user_id, month, threshold)
);
CREATE INDEX budget_alerts_pending_idx ON budget_alerts (next_attempt_at) WHERE status = 'pending';

-- Down Migration
DROP TABLE budget_alerts;
DROP TABLE user_settings;
DROP TABLE expenses;
DROP TABLE admin_grants;
DROP TABLE users;
