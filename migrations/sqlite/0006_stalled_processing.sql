-- The upkeep looks for verifications left in `processing` by the time they got there.
CREATE INDEX verifications_processing_since ON verifications (updated_at)
    WHERE status = 'processing';
