-- PostgreSQL's 0007_manifest_frames.sql (see it): a transfer's manifest, one row per
-- frame written, committed before the articles it covers are posted.
CREATE TABLE manifest_frames (
    manifest    text   NOT NULL,
    byte_offset bigint NOT NULL,
    data        bytea  NOT NULL,
    PRIMARY KEY (manifest, byte_offset)
);
