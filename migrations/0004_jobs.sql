-- The daemon's queue: one row per job (a folder or file to post). A job is worked on
-- under a lease like everything else; the same path is never queued or running twice.

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    path            TEXT    NOT NULL,          -- absolute path of the folder or file
    root            TEXT,                      -- the watch root it came from (NULL: queue add)
    relative        TEXT    NOT NULL,          -- relative to the root: the NZB mirrors it
    output          TEXT,                      -- the NZB folder
    priority        INTEGER NOT NULL DEFAULT 0,
    size            INTEGER NOT NULL DEFAULT 0,  -- bytes and files when queued: a path that
    files           INTEGER NOT NULL DEFAULT 0,  -- comes back unchanged is not posted again
    -- queued: waiting (or retrying at next_attempt_at); running: leased to a worker;
    -- done: posted (verification goes on in the background); failed: attempts used up;
    -- removed: taken off the queue by a user.
    state           TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'failed', 'removed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL    NOT NULL DEFAULT 0,
    transfer_id     INTEGER REFERENCES transfers (id) ON DELETE SET NULL,
    lease_owner     TEXT,
    lease_expires   REAL,
    last_error      TEXT,
    created_at      REAL    NOT NULL,
    started_at      REAL,
    finished_at     REAL,
    updated_at      REAL    NOT NULL
);

CREATE UNIQUE INDEX jobs_active_path ON jobs (path) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_next ON jobs (state, priority, id);

CREATE TABLE queue_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
