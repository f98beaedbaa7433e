-- v2client schema, Postgres.

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    -- First characters of the key, shown in lists and used to look it up.
    prefix      TEXT NOT NULL UNIQUE,
    -- SHA-256 of the key (hex). The key itself is never stored.
    key_hash    TEXT NOT NULL UNIQUE,
    settings    JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);

CREATE TABLE verifications (
    id          TEXT PRIMARY KEY,
    key_id      TEXT NOT NULL REFERENCES api_keys (id),
    status      TEXT NOT NULL CHECK (status IN ('created', 'in_progress', 'processing',
                    'verified', 'needs_manual_review', 'rejected', 'expired')),
    flow        JSONB NOT NULL,
    -- The key's module settings as they were when the verification was created.
    modules     JSONB NOT NULL,
    progress    JSONB NOT NULL,
    results     JSONB NOT NULL DEFAULT '{}',
    extra_data  JSONB,
    return_url  TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX verifications_by_key ON verifications (key_id, created_at);
-- The expiry sweeper only looks at open verifications.
CREATE INDEX verifications_open_by_expiry ON verifications (expires_at)
    WHERE status IN ('created', 'in_progress', 'processing');

CREATE TABLE attempts (
    id              TEXT PRIMARY KEY,
    verification_id TEXT NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    step            TEXT NOT NULL CHECK (step IN ('document_front', 'document_back',
                        'liveness', 'form_data')),
    outcome         TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    reasons         JSONB NOT NULL DEFAULT '[]',
    metrics         JSONB NOT NULL DEFAULT '{}',
    -- Blob-store keys by role (original, cropped, frames…).
    images          JSONB NOT NULL DEFAULT '{}',
    content_hash    TEXT,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX attempts_by_verification ON attempts (verification_id, created_at);

CREATE TABLE idempotency_keys (
    key_id          TEXT NOT NULL REFERENCES api_keys (id),
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    verification_id TEXT NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    -- The response body exactly as first sent (text, not jsonb, to replay it byte for byte).
    response        TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
