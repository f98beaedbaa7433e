-- Operators find verifications without knowing their ids: by their own reference
-- (`extra_data.reference_id`, copied here when it is a string or a number of at most 256
-- bytes, and cleared with the rest on erasure), by status and by creation time, newest or
-- oldest first, a page at a time (keyset: `(created_at, id)`).
ALTER TABLE verifications ADD COLUMN reference TEXT;
UPDATE verifications SET reference = CAST(json_extract(extra_data, '$.reference_id') AS TEXT)
    WHERE json_type(extra_data, '$.reference_id') IN ('text', 'integer', 'real')
      AND length(CAST(json_extract(extra_data, '$.reference_id') AS BLOB)) <= 256;

DROP INDEX verifications_by_key;
CREATE INDEX verifications_by_key ON verifications (key_id, created_at, id);
CREATE INDEX verifications_by_key_status ON verifications (key_id, status, created_at, id);
CREATE INDEX verifications_by_reference ON verifications (key_id, reference)
    WHERE reference IS NOT NULL;
-- The review queue across keys.
CREATE INDEX verifications_to_review ON verifications (created_at, id)
    WHERE status = 'needs_manual_review';

-- Who viewed or decided what, from where. Append-only: the database refuses to change or
-- remove a row, whoever asks.
CREATE TABLE audit_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    at              TEXT NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    actor_label     TEXT NOT NULL,
    address         TEXT,
    action          TEXT NOT NULL,
    verification_id TEXT,
    key_id          TEXT,
    target          TEXT,
    detail          TEXT
) STRICT;
CREATE INDEX audit_events_by_verification ON audit_events (verification_id, seq)
    WHERE verification_id IS NOT NULL;
CREATE INDEX audit_events_by_key ON audit_events (key_id, seq) WHERE key_id IS NOT NULL;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
