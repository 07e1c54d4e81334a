-- Verification outcomes and finalizing. A transfer's `state` stays its upload state;
-- what verification and finalizing made of it has columns of its own.

-- pending: not decided yet (or not asked for); verified: every article was found;
-- verification_failed: some article stayed missing after its re-posts and checks.
ALTER TABLE transfers ADD COLUMN verify_state TEXT NOT NULL DEFAULT 'pending'
    CHECK (verify_state IN ('pending', 'verified', 'verification_failed'));
ALTER TABLE transfers ADD COLUMN verified_at REAL;
-- pending: not finalized; done: hook run, cleanup done, manifest dropped;
-- failed: the hook or a cleanup step failed for good (everything is kept).
ALTER TABLE transfers ADD COLUMN finalize_state TEXT NOT NULL DEFAULT 'pending'
    CHECK (finalize_state IN ('pending', 'done', 'failed'));
ALTER TABLE transfers ADD COLUMN finalize_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN next_finalize_at REAL;

-- A file's STAT scan is leased like a failure row: `next_check_at` doubles as the
-- lease's expiry while `check_owner` is set, so a scan whose worker died is due again.
ALTER TABLE transfer_files ADD COLUMN check_owner TEXT;
-- When the file's last STAT scan ended (NULL: never scanned since it was asked for).
ALTER TABLE transfer_files ADD COLUMN checked_at REAL;

CREATE INDEX transfer_files_due ON transfer_files (next_check_at)
    WHERE next_check_at IS NOT NULL;
CREATE INDEX transfers_to_finalize ON transfers (verify_state, finalize_state);
