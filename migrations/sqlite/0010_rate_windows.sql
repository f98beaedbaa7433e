-- Shared rate-limit counters: one fixed window per bucket, counted by every instance that
-- uses this database (V2CLIENT_RATE_LIMIT_STORE=database).
CREATE TABLE rate_windows (
    bucket TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits INTEGER NOT NULL
);
CREATE INDEX rate_windows_window_start ON rate_windows (window_start);
