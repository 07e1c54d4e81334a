-- Workers: every process that takes leases has a row here and beats its heartbeat. A
-- worker whose heartbeat is older than the store's TTL is dead, wherever it runs; a
-- worker of this host whose process is gone (no such pid, or the pid reused by a later
-- process: another start time) is dead at once. Reaping a dead worker releases every
-- lease it held and deletes its row, in one transaction. A lease whose owner has no row
-- (a process that never registered) simply runs out.

CREATE TABLE workers (
    owner         TEXT    NOT NULL PRIMARY KEY,  -- what its leases carry: host/pid/start/random
    host          TEXT    NOT NULL,
    pid           INTEGER NOT NULL,
    process_start INTEGER,              -- clock ticks after boot (/proc); NULL: not known
    name          TEXT    NOT NULL,     -- what it is: post, resume, verify, daemon
    started_at    REAL    NOT NULL,
    heartbeat_at  REAL    NOT NULL
) WITHOUT ROWID;

-- A file's STAT scan gets a lease expiry of its own, like every other lease
-- (next_check_at is again only when the scan is due). A scan leased as this runs keeps
-- its expiry, which next_check_at held.
ALTER TABLE transfer_files ADD COLUMN check_expires REAL;
UPDATE transfer_files SET check_expires = next_check_at WHERE check_owner IS NOT NULL;

-- Releasing a worker's leases finds them by owner.
CREATE INDEX transfer_files_by_check_owner ON transfer_files (check_owner)
    WHERE check_owner IS NOT NULL;
CREATE INDEX verification_failures_by_owner ON verification_failures (lease_owner)
    WHERE lease_owner IS NOT NULL;
