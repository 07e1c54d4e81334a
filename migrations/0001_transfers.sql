-- Transfers and their files: what was planned, where each file's articles are
-- recorded (the manifest), and how far posting has got (the acknowledged watermark).

CREATE TABLE transfers (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL,
    -- uploading: posting (or interrupted); incomplete: a run ended with files left over;
    -- uploaded: every article acknowledged and the NZB written.
    state          TEXT    NOT NULL DEFAULT 'uploading'
                   CHECK (state IN ('uploading', 'incomplete', 'uploaded')),
    roots          TEXT    NOT NULL,          -- JSON list of the resolved paths given
    roots_key      TEXT    NOT NULL,          -- hash of roots, to find it again
    files_key      TEXT    NOT NULL,          -- hash of every file's path, size and mtime
    options        TEXT    NOT NULL,          -- JSON: the posting and NZB settings planned with
    nzb_path       TEXT,
    manifest_path  TEXT    NOT NULL,
    manifest_bytes INTEGER NOT NULL DEFAULT 0,  -- manifest bytes known durable at the last checkpoint
    lease_owner    TEXT,
    lease_expires  REAL,
    last_error     TEXT,
    created_at     REAL    NOT NULL,
    updated_at     REAL    NOT NULL,
    finished_at    REAL
);

CREATE INDEX transfers_by_roots ON transfers (roots_key, state);

CREATE TABLE transfer_files (
    transfer_id    INTEGER NOT NULL REFERENCES transfers (id) ON DELETE CASCADE,
    file_id        INTEGER NOT NULL,          -- 1-based, the order of the plan
    role           TEXT    NOT NULL DEFAULT 'data' CHECK (role IN ('data', 'par2')),
    source_path    BLOB    NOT NULL,          -- file system bytes, any encoding
    name           TEXT    NOT NULL,          -- the name in subjects and the NZB
    size           INTEGER NOT NULL,
    mtime_ns       INTEGER NOT NULL,
    manifest_path  TEXT    NOT NULL,
    article_count  INTEGER NOT NULL,
    acked          INTEGER NOT NULL DEFAULT 0,  -- every article numbered <= acked has its 240
    upload_state   TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (upload_state IN ('pending', 'uploaded', 'failed',
                                           'source_changed', 'source_missing')),
    verify_state   TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (verify_state IN ('pending', 'verified', 'verification_failed')),
    next_check_at  REAL,
    cleanup        TEXT    NOT NULL DEFAULT 'keep' CHECK (cleanup IN ('keep', 'delete')),
    last_error     TEXT,
    updated_at     REAL    NOT NULL,
    PRIMARY KEY (transfer_id, file_id)
) WITHOUT ROWID;

-- Message-IDs a server rewrote in its 240 reply (rare): the NZB must list these.
CREATE TABLE accepted_ids (
    transfer_id INTEGER NOT NULL,
    file_id     INTEGER NOT NULL,
    part        INTEGER NOT NULL,
    message_id  TEXT    NOT NULL,
    PRIMARY KEY (transfer_id, file_id, part),
    FOREIGN KEY (transfer_id, file_id) REFERENCES transfer_files (transfer_id, file_id)
        ON DELETE CASCADE
) WITHOUT ROWID;
