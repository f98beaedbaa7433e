-- Test mode: a verification created with a test key (`v2c_test_…`) is a test
-- verification for its whole life. Its steps run no checks, its images are placeholders,
-- its outcome is the one the tester picks, and retention erases it within 7 days.
-- Same column as SQLite.
ALTER TABLE verifications ADD COLUMN test BOOLEAN NOT NULL DEFAULT FALSE;
