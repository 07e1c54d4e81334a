-- Verification: only the articles a STAT did not find are stored (never the ones that
-- were there). Each row is worked on under a lease (owner, expires): a worker claims a
-- batch of due rows in one transaction; a lease that ran out may be claimed again.

CREATE TABLE verification_failures (
    transfer_id     INTEGER NOT NULL,
    file_id         INTEGER NOT NULL,
    part            INTEGER NOT NULL,
    message_id      TEXT    NOT NULL,
    -- pending: to re-post or recheck when due; exhausted: re-posts and checks used up
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'exhausted')),
    repost_count    INTEGER NOT NULL DEFAULT 0,
    check_count     INTEGER NOT NULL DEFAULT 1,
    next_attempt_at REAL    NOT NULL,
    lease_owner     TEXT,
    lease_expires   REAL,
    last_error      TEXT,
    created_at      REAL    NOT NULL,
    updated_at      REAL    NOT NULL,
    PRIMARY KEY (transfer_id, file_id, part),
    FOREIGN KEY (transfer_id, file_id) REFERENCES transfer_files (transfer_id, file_id)
        ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX verification_failures_due ON verification_failures (state, next_attempt_at);
