-- The end user's progress beyond the status, and a version for optimistic concurrency.
ALTER TABLE verifications ADD COLUMN portal TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(portal));
ALTER TABLE verifications ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
