-- Webhooks: per-key endpoint and signing secrets, an outbox of events written in the same
-- transaction as the state change they report, and a log of every delivery attempt.
ALTER TABLE api_keys ADD COLUMN webhook_url TEXT;
-- `whsec_` + base64 of the HMAC key. The previous secret keeps signing until
-- webhook_old_secret_until after a rotation.
ALTER TABLE api_keys ADD COLUMN webhook_secret TEXT;
ALTER TABLE api_keys ADD COLUMN webhook_old_secret TEXT;
ALTER TABLE api_keys ADD COLUMN webhook_old_secret_until TIMESTAMPTZ;

CREATE TABLE webhook_events (
    id              TEXT PRIMARY KEY,
    key_id          TEXT NOT NULL REFERENCES api_keys (id),
    verification_id TEXT NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    type            TEXT NOT NULL,
    sequence        BIGINT NOT NULL,
    -- Snapshot of what the event reports (status, extra_data, decision).
    data            JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    UNIQUE (verification_id, sequence)
);
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE state = 'pending';

CREATE TABLE webhook_deliveries (
    id           BIGSERIAL PRIMARY KEY,
    event_id     TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    attempted_at TIMESTAMPTZ NOT NULL,
    status_code  INTEGER,
    latency_ms   BIGINT NOT NULL,
    error        TEXT
);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id, attempted_at);
