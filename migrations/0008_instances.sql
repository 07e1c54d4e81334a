-- Instances. Every process that takes leases runs under an instance name (`postie daemon
-- --instance NAME`, default `<short host name>-<pid>`), kept with its worker row; a
-- lease shows its holder's instance by joining the lease's owner to that row (a lease
-- whose owner has no row shows the owner). NULL: a worker registered before this.
ALTER TABLE workers ADD COLUMN instance TEXT;

-- Deferrals. A daemon instance that cannot read a job's path (not mounted there) gives
-- the job back to the queue and records that here: its claims skip the job until
-- deferred_until (a mount may come back), or until a user retries the job. When every
-- live daemon instance has deferred a job, the job fails (see postie/store/deferral.py).
CREATE TABLE job_deferrals (
    job_id         INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    instance       TEXT    NOT NULL,
    reason         TEXT    NOT NULL,  -- why it could not read the path (OS error text)
    deferred_at    REAL    NOT NULL,
    deferred_until REAL    NOT NULL,
    PRIMARY KEY (job_id, instance)
) WITHOUT ROWID;
