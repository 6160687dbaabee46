-- Up Migration
-- Bulk CSV imports: one row per uploaded file (state, progress, checkpoints, lease), its per-row
-- errors, and the provenance + fingerprint columns on expenses that make re-imports add nothing.

-- Each import stages its normalized rows in an UNLOGGED table of its own here
-- (import_staging.i_<import id without dashes>), dropped when the import finishes.
CREATE SCHEMA import_staging;

CREATE TABLE imports (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- receiving: upload in progress; queued: stored, waiting for a worker; processing: leased by a
  -- worker; done; failed (error says why).
  state            text NOT NULL DEFAULT 'receiving'
                   CHECK (state IN ('receiving', 'queued', 'processing', 'done', 'failed')),
  -- staging: reading the file into the staging table; merging: inserting into expenses.
  phase            text NOT NULL DEFAULT 'staging' CHECK (phase IN ('staging', 'merging', 'finished')),
  file_name        text NOT NULL DEFAULT '' CHECK (length(file_name) <= 255),
  size_bytes       bigint NOT NULL CHECK (size_bytes >= 0),
  received_bytes   bigint NOT NULL DEFAULT 0,
  sha256           text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  options          jsonb,
  -- staging checkpoint: the file is read up to staged_bytes (a record boundary), line staged_lines.
  staged_bytes     bigint NOT NULL DEFAULT 0,
  staged_lines     bigint NOT NULL DEFAULT 0,
  rows_read        bigint NOT NULL DEFAULT 0,
  rows_staged      bigint NOT NULL DEFAULT 0,
  rows_skipped     bigint NOT NULL DEFAULT 0,
  rows_failed      bigint NOT NULL DEFAULT 0,
  -- merge checkpoint: every staged row dated up to merged_through is in expenses.
  merged_through   date,
  rows_merged      bigint NOT NULL DEFAULT 0,
  rows_inserted    bigint NOT NULL DEFAULT 0,
  rows_duplicate   bigint NOT NULL DEFAULT 0,
  -- times the staging table was found empty (it is UNLOGGED: a database crash or failover empties
  -- it) and staging started over; merges after that count rows this import inserted before as inserted.
  staging_resets   integer NOT NULL DEFAULT 0,
  error            text,
  attempts         integer NOT NULL DEFAULT 0,
  available_at     timestamptz NOT NULL DEFAULT now(),
  lease_owner      text,
  lease_expires_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz
);
CREATE INDEX imports_user_created_idx ON imports (user_id, created_at DESC);
CREATE INDEX imports_active_idx ON imports (created_at) WHERE state IN ('receiving', 'queued', 'processing');

-- Rows that could not be imported: the line they start on and why. Capped per import (the
-- count in imports.rows_failed is exact).
CREATE TABLE import_errors (
  import_id uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
  line      bigint NOT NULL,
  reason    text NOT NULL,
  raw       text NOT NULL DEFAULT '',
  PRIMARY KEY (import_id, line)
);

-- import_id: which import created the row (no foreign key: import records may be purged while
-- the expenses stay). fingerprint: identity of an imported statement row (see app/src/imports/merge.ts);
-- NULL for expenses entered by hand, which therefore never conflict.
ALTER TABLE expenses ADD COLUMN import_id uuid, ADD COLUMN fingerprint uuid;
CREATE UNIQUE INDEX expenses_user_fingerprint_key ON expenses (user_id, fingerprint);

-- Down Migration
DROP INDEX expenses_user_fingerprint_key;
ALTER TABLE expenses DROP COLUMN fingerprint, DROP COLUMN import_id;
DROP TABLE import_errors;
DROP TABLE imports;
DROP SCHEMA import_staging CASCADE;
