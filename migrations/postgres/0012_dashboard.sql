-- The reviewers' dashboard: its people (admins, who manage keys and people, and reviewers,
-- who see the verifications of the keys they are granted), what each may see, and their
-- sessions. Apart from operators' API keys.
CREATE TABLE dashboard_users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'reviewer')),
    -- Argon2id, as a PHC string. The password itself is never stored.
    password_hash   TEXT NOT NULL,
    -- Failed logins in a row; reaching the limit sets `locked_until` and starts again.
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    TIMESTAMPTZ,
    disabled_at     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL
);

-- One account per address, whatever its case.
CREATE UNIQUE INDEX dashboard_users_email ON dashboard_users (lower(email));

-- The keys whose verifications a reviewer may see (admins see every key's).
CREATE TABLE dashboard_grants (
    user_id     TEXT NOT NULL REFERENCES dashboard_users (id) ON DELETE CASCADE,
    key_id      TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, key_id)
);

CREATE TABLE dashboard_sessions (
    -- SHA-256 (hex) of the session token; the token itself is only in the user's cookie.
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES dashboard_users (id) ON DELETE CASCADE,
    -- Sent back in every form of the session and checked on every POST.
    csrf_token      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL,
    -- The absolute end; the idle limit counts from `last_seen_at`.
    expires_at      TIMESTAMPTZ NOT NULL,
    address         TEXT,
    user_agent      TEXT
);

CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (user_id);
CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires_at);
