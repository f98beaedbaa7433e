-- Every statement that changes keys notifies `v2client_keys` when its transaction commits,
-- naming the schema of the table (databases can hold several installations). Each server
-- listens and forgets the keys it remembered, so that a key revoked anywhere (`v2client
-- keys revoke`, another instance) stops working everywhere within a second.
CREATE FUNCTION v2client_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('v2client_keys', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION v2client_keys_changed();
