-- PostgreSQL's 0002_verification.sql (see it).

CREATE TABLE verification_failures (
    transfer_id     bigint NOT NULL,
    file_id         bigint NOT NULL,
    part            bigint NOT NULL,
    message_id      text   NOT NULL,
    state           text   NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'exhausted')),
    repost_count    bigint NOT NULL DEFAULT 0,
    check_count     bigint NOT NULL DEFAULT 1,
    next_attempt_at double precision NOT NULL,
    lease_owner     text,
    lease_expires   double precision,
    last_error      text,
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    PRIMARY KEY (transfer_id, file_id, part),
    FOREIGN KEY (transfer_id, file_id) REFERENCES transfer_files (transfer_id, file_id)
        ON DELETE CASCADE
);

CREATE INDEX verification_failures_due ON verification_failures (state, next_attempt_at);
