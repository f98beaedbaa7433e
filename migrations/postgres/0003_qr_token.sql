-- A public token per key for the QR entry (`GET /generate?token=…`); rotatable.
ALTER TABLE api_keys ADD COLUMN qr_token TEXT;
CREATE UNIQUE INDEX api_keys_qr_token ON api_keys (qr_token);
