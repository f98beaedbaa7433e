-- v2client schema, SQLite. Same tables as Postgres; JSON is stored as text and times
-- as RFC 3339 text in UTC (which sorts in time order).

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL UNIQUE,
    key_hash    TEXT NOT NULL UNIQUE,
    settings    TEXT NOT NULL CHECK (json_valid(settings)),
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;

CREATE TABLE verifications (
    id          TEXT PRIMARY KEY,
    key_id      TEXT NOT NULL REFERENCES api_keys (id),
    status      TEXT NOT NULL CHECK (status IN ('created', 'in_progress', 'processing',
                    'verified', 'needs_manual_review', 'rejected', 'expired')),
    flow        TEXT NOT NULL CHECK (json_valid(flow)),
    modules     TEXT NOT NULL CHECK (json_valid(modules)),
    progress    TEXT NOT NULL CHECK (json_valid(progress)),
    results     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(results)),
    extra_data  TEXT CHECK (extra_data IS NULL OR json_valid(extra_data)),
    return_url  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) STRICT;

CREATE INDEX verifications_by_key ON verifications (key_id, created_at);
CREATE INDEX verifications_open_by_expiry ON verifications (expires_at)
    WHERE status IN ('created', 'in_progress', 'processing');

CREATE TABLE attempts (
    id              TEXT PRIMARY KEY,
    verification_id TEXT NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    step            TEXT NOT NULL CHECK (step IN ('document_front', 'document_back',
                        'liveness', 'form_data')),
    outcome         TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    reasons         TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(reasons)),
    metrics         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metrics)),
    images          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(images)),
    content_hash    TEXT,
    created_at      TEXT NOT NULL
) STRICT;

CREATE INDEX attempts_by_verification ON attempts (verification_id, created_at);

CREATE TABLE idempotency_keys (
    key_id          TEXT NOT NULL REFERENCES api_keys (id),
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    verification_id TEXT NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    response        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
) STRICT;

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
