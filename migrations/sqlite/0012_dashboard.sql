-- The reviewers' dashboard: its people (admins, who manage keys and people, and reviewers,
-- who see the verifications of the keys they are granted), what each may see, and their
-- sessions. Apart from operators' API keys. Same tables as Postgres.
CREATE TABLE dashboard_users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'reviewer')),
    password_hash   TEXT NOT NULL,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    TEXT,
    disabled_at     TEXT,
    created_at      TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX dashboard_users_email ON dashboard_users (lower(email));

CREATE TABLE dashboard_grants (
    user_id     TEXT NOT NULL REFERENCES dashboard_users (id) ON DELETE CASCADE,
    key_id      TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, key_id)
) STRICT;

CREATE TABLE dashboard_sessions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES dashboard_users (id) ON DELETE CASCADE,
    csrf_token      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    address         TEXT,
    user_agent      TEXT
) STRICT;

CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (user_id);
CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires_at);
