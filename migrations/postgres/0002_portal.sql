-- The end user's progress beyond the status, and a version for optimistic concurrency.
ALTER TABLE verifications ADD COLUMN portal JSONB NOT NULL DEFAULT '{}';
ALTER TABLE verifications ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
