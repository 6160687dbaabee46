-- Up Migration
-- Merging while staging (app/src/imports/fingerprint.ts): rows of files grouped by day get their
-- fingerprint while the file is read and are merged in line order as staging goes on.
--   merged_line: every staged row up to this line that has a fingerprint is in expenses;
--   deferred_from_line: the first line whose fingerprint is left to SQL after staging (the file
--   turned out not to be grouped by day); NULL while it is.
ALTER TABLE imports
  ADD COLUMN merged_line bigint NOT NULL DEFAULT 0,
  ADD COLUMN deferred_from_line bigint;

-- Down Migration
ALTER TABLE imports DROP COLUMN deferred_from_line, DROP COLUMN merged_line;
