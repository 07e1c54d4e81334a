-- PostgreSQL's 0003_verify_finalize.sql (see it).

ALTER TABLE transfers ADD COLUMN verify_state text NOT NULL DEFAULT 'pending'
    CHECK (verify_state IN ('pending', 'verified', 'verification_failed'));
ALTER TABLE transfers ADD COLUMN verified_at double precision;
ALTER TABLE transfers ADD COLUMN finalize_state text NOT NULL DEFAULT 'pending'
    CHECK (finalize_state IN ('pending', 'done', 'failed'));
ALTER TABLE transfers ADD COLUMN finalize_attempts bigint NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN next_finalize_at double precision;

ALTER TABLE transfer_files ADD COLUMN check_owner text;
ALTER TABLE transfer_files ADD COLUMN checked_at double precision;

CREATE INDEX transfer_files_due ON transfer_files (next_check_at)
    WHERE next_check_at IS NOT NULL;
CREATE INDEX transfers_to_finalize ON transfers (verify_state, finalize_state);
