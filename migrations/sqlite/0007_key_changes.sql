-- Every change to a key bumps this counter. Server processes read it a few times a second
-- and forget the keys they remembered when it moves, so that a key revoked by another
-- process (`v2client keys revoke`) stops working everywhere within a second.
CREATE TABLE keys_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT INTO keys_version (id, version) VALUES (1, 0);

CREATE TRIGGER api_keys_inserted AFTER INSERT ON api_keys
BEGIN
    UPDATE keys_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER api_keys_updated AFTER UPDATE ON api_keys
BEGIN
    UPDATE keys_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
BEGIN
    UPDATE keys_version SET version = version + 1 WHERE id = 1;
END;
