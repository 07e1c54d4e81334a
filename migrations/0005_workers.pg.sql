-- PostgreSQL's 0005_workers.sql (see it). On PostgreSQL the workers of several hosts
-- share the table: only the heartbeat tells whether another host's worker lives.

CREATE TABLE workers (
    owner         text   NOT NULL PRIMARY KEY,
    host          text   NOT NULL,
    pid           bigint NOT NULL,
    process_start bigint,
    name          text   NOT NULL,
    started_at    double precision NOT NULL,
    heartbeat_at  double precision NOT NULL
);

ALTER TABLE transfer_files ADD COLUMN check_expires double precision;
UPDATE transfer_files SET check_expires = next_check_at WHERE check_owner IS NOT NULL;

CREATE INDEX transfer_files_by_check_owner ON transfer_files (check_owner)
    WHERE check_owner IS NOT NULL;
CREATE INDEX verification_failures_by_owner ON verification_failures (lease_owner)
    WHERE lease_owner IS NOT NULL;
