-- Manifests kept in the database (the PostgreSQL store: every instance can read them).
-- One row per frame written: a manifest's zstd bytes as they would be in its file, each
-- row starting at byte `byte_offset`; the rows of a manifest, in that order and without
-- a gap, are the file. `manifest` is the transfer's manifest_path (its key: a name, not a
-- path). SQLite keeps its manifests in files; the table is here so that a schema version
-- means the same tables in either database, and stays empty.
CREATE TABLE manifest_frames (
    manifest    TEXT    NOT NULL,
    byte_offset INTEGER NOT NULL,
    data        BLOB    NOT NULL,
    PRIMARY KEY (manifest, byte_offset)
) WITHOUT ROWID;
