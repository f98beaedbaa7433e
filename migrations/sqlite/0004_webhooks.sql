-- Webhooks: per-key endpoint and signing secrets, an outbox of events written in the same
-- transaction as the state change they report, and a log of every delivery attempt.
ALTER TABLE api_keys ADD COLUMN webhook_url TEXT;
ALTER TABLE api_keys ADD COLUMN webhook_secret TEXT;
ALTER TABLE api_keys ADD COLUMN webhook_old_secret TEXT;
ALTER TABLE api_keys ADD COLUMN webhook_old_secret_until TEXT;

CREATE TABLE webhook_events (
    id              TEXT PRIMARY KEY,
    key_id          TEXT NOT NULL REFERENCES api_keys (id),
    verification_id TEXT NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    type            TEXT NOT NULL,
    sequence        INTEGER NOT NULL,
    data            TEXT NOT NULL CHECK (json_valid(data)),
    created_at      TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    delivered_at    TEXT,
    UNIQUE (verification_id, sequence)
) STRICT;
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE state = 'pending';

CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    attempted_at TEXT NOT NULL,
    status_code  INTEGER,
    latency_ms   INTEGER NOT NULL,
    error        TEXT
) STRICT;
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id, attempted_at);
