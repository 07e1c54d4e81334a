-- Every statement the PostgreSQL store runs, by name (see sql.py beside this file): the
-- SQLite store's queries.sql in PostgreSQL's words, with the same names and parameters
-- (``:name``; sql.py turns them into ``$n``).
--
-- A claim of rows that other instances may want at the same moment is one statement:
-- a MATERIALIZED common table expression picks the rows (free, or their lease ran out; in
-- order; LIMIT n) with FOR UPDATE SKIP LOCKED, and the UPDATE changes exactly those and
-- RETURNs them. A claimer skips the rows another claimer has locked instead of waiting
-- for them, and a row is picked, locked and changed by one transaction only. (The CTE,
-- rather than `WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`: a locking CTE
-- runs once, whatever plan the planner makes of the IN.)
--
-- Times are seconds since the epoch on the store's clock (``:now``; see base.py: it is
-- the database server's clock).

-- name: server_clock
SELECT extract(epoch FROM clock_timestamp())::float8 AS now;

-- name: insert_transfer
INSERT INTO transfers (name, roots, roots_key, files_key, options, nzb_path, manifest_path,
                       lease_owner, lease_expires, created_at, updated_at)
VALUES (:name, :roots, :roots_key, :files_key, :options::jsonb, :nzb_path, :manifest_path,
        :owner, :expires, :now, :now)
RETURNING id;

-- name: created_transfer
-- The transfer an insert_transfer run of :owner made, if it did (its answer was lost):
-- :times are the clocks the runs were given (created_at is set to one).
SELECT id FROM transfers
WHERE manifest_path = :manifest_path AND lease_owner = :owner AND created_at = ANY(:times);

-- name: insert_files
-- One statement for every file of a transfer: arrays, a row per position.
INSERT INTO transfer_files (transfer_id, file_id, role, source_path, name, size, mtime_ns,
                            manifest_path, article_count, cleanup, updated_at)
SELECT :transfer_id, f.file_id, f.role, f.source_path, f.name, f.size, f.mtime_ns,
       :manifest_path, f.article_count, f.cleanup, :now
FROM unnest(:file_ids::bigint[], :roles::text[], :source_paths::bytea[], :names::text[],
            :sizes::bigint[], :mtimes::bigint[], :article_counts::bigint[],
            :cleanups::text[])
     AS f (file_id, role, source_path, name, size, mtime_ns, article_count, cleanup);

-- name: get_transfer
SELECT * FROM transfers WHERE id = :id;

-- name: list_transfers
SELECT * FROM transfers ORDER BY id DESC LIMIT :limit;

-- name: unfinished_by_roots
SELECT * FROM transfers
WHERE roots_key = :roots_key AND state IN ('uploading', 'incomplete')
ORDER BY id DESC;

-- name: uploaded_of
SELECT * FROM transfers
WHERE roots_key = :roots_key AND files_key = :files_key AND state = 'uploaded'
ORDER BY id DESC LIMIT 1;

-- name: last_unfinished
SELECT * FROM transfers
WHERE state IN ('uploading', 'incomplete') AND abandoned_at IS NULL
ORDER BY id DESC LIMIT 1;

-- name: abandon
UPDATE transfers
SET abandoned_at = :now, last_error = COALESCE(:reason::text, last_error), lease_owner = NULL,
    lease_expires = NULL, updated_at = :now
WHERE id = :id AND state IN ('uploading', 'incomplete') AND abandoned_at IS NULL
  AND (lease_owner IS NULL OR lease_owner = :owner OR lease_expires < :now)
RETURNING id;

-- name: transfer_files
SELECT * FROM transfer_files WHERE transfer_id = :id ORDER BY file_id;

-- name: file_counts
SELECT transfer_id, COUNT(*) AS files, SUM(size) AS bytes, SUM(article_count) AS articles,
       COUNT(*) FILTER (WHERE upload_state = 'uploaded') AS uploaded
FROM transfer_files WHERE transfer_id = ANY(:ids::bigint[]) GROUP BY transfer_id;

-- name: claim
-- One row by its key: a second claimer waits for the first one's row lock, then sees
-- the new holder (and changes nothing). No SKIP LOCKED: the answer must be definite.
UPDATE transfers SET lease_owner = :owner, lease_expires = :expires, updated_at = :now
WHERE id = :id AND (lease_owner IS NULL OR lease_owner = :owner OR lease_expires < :now)
RETURNING id;

-- name: release
UPDATE transfers SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE id = :id AND lease_owner = :owner;

-- name: renew
UPDATE transfers
SET lease_expires = :expires, manifest_bytes = GREATEST(manifest_bytes, :manifest_bytes),
    updated_at = :now
WHERE id = :id AND lease_owner = :owner
RETURNING id;

-- name: set_progress
UPDATE transfer_files
SET acked = GREATEST(acked, :acked),
    upload_state = COALESCE(:state::text, upload_state),
    last_error = CASE WHEN :state::text IS NULL THEN last_error ELSE :error::text END,
    updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = :file_id;

-- name: set_uploaded
UPDATE transfer_files
SET acked = article_count, upload_state = 'uploaded', last_error = NULL, updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = ANY(:file_ids::bigint[]);

-- name: set_all_uploaded
UPDATE transfer_files
SET acked = article_count, upload_state = 'uploaded', last_error = NULL, updated_at = :now
WHERE transfer_id = :transfer_id AND (upload_state != 'uploaded' OR acked != article_count);

-- name: insert_accepted_id
INSERT INTO accepted_ids (transfer_id, file_id, part, message_id)
VALUES (:transfer_id, :file_id, :part, :message_id)
ON CONFLICT (transfer_id, file_id, part) DO UPDATE SET message_id = excluded.message_id;

-- name: accepted_ids
SELECT file_id, part, message_id FROM accepted_ids WHERE transfer_id = :id;

-- name: set_transfer_state
UPDATE transfers
SET state = :state, last_error = :error::text, nzb_path = COALESCE(:nzb_path::text, nzb_path),
    finished_at = :finished_at::float8, updated_at = :now
WHERE id = :id;

-- name: rewind_manifest
UPDATE transfers SET manifest_bytes = :manifest_bytes, updated_at = :now
WHERE id = :id AND lease_owner = :owner
RETURNING id;

-- name: rewind_file
UPDATE transfer_files
SET acked = :acked,
    upload_state = CASE WHEN upload_state = 'uploaded' THEN 'pending' ELSE upload_state END,
    updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = :file_id AND acked > :acked;

-- name: set_targets
UPDATE transfers
SET options = jsonb_set(options, '{targets}', :targets::jsonb), nzb_path = :nzb_path,
    updated_at = :now
WHERE id = :id;

-- name: delete_transfer
DELETE FROM transfers WHERE id = :id;

-- name: delete_transfers
DELETE FROM transfers WHERE id = ANY(:ids::bigint[]);

-- name: record_miss
INSERT INTO verification_failures (transfer_id, file_id, part, message_id, next_attempt_at,
                                   last_error, created_at, updated_at)
VALUES (:transfer_id, :file_id, :part, :message_id, :next_attempt_at, :error::text, :now, :now)
ON CONFLICT (transfer_id, file_id, part) DO UPDATE
SET check_count = verification_failures.check_count + 1,
    next_attempt_at = excluded.next_attempt_at,
    last_error = excluded.last_error, updated_at = excluded.updated_at;

-- name: claim_failures
-- Lease up to :limit due missing articles, earliest due first. :servers (text[], or NULL
-- for any): only transfers posted to one of them, or that recorded none.
WITH picked AS MATERIALIZED (
    SELECT v.transfer_id, v.file_id, v.part FROM verification_failures v
    JOIN transfers t ON t.id = v.transfer_id
    WHERE v.state = 'pending' AND v.next_attempt_at <= :now
      AND (v.lease_owner IS NULL OR v.lease_expires < :now)
      AND (:only::bigint IS NULL OR v.transfer_id = :only::bigint)
      AND (:servers::text[] IS NULL
           OR COALESCE(t.options -> 'servers', 'null') = 'null'
           OR t.options -> 'servers' ?| :servers::text[])
    ORDER BY v.next_attempt_at, v.transfer_id, v.file_id, v.part
    LIMIT :limit
    FOR UPDATE OF v SKIP LOCKED
)
UPDATE verification_failures v
SET lease_owner = :owner, lease_expires = :expires, updated_at = :now
FROM picked
WHERE (v.transfer_id, v.file_id, v.part) = (picked.transfer_id, picked.file_id, picked.part)
  AND v.state = 'pending' AND (v.lease_owner IS NULL OR v.lease_expires < :now)
RETURNING v.*;

-- name: resolve_failure
DELETE FROM verification_failures
WHERE transfer_id = :transfer_id AND file_id = :file_id AND part = :part
  AND lease_owner = :owner;

-- name: reschedule_failure
UPDATE verification_failures
SET state = :state, repost_count = :repost_count, check_count = :check_count,
    next_attempt_at = :next_attempt_at, last_error = :error::text,
    lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = :file_id AND part = :part
  AND lease_owner = :owner
RETURNING part;

-- name: rescheduled_failure
-- Whether a reschedule_failure run did change the row (its answer was lost): :times are
-- the clocks the runs were given (updated_at is set to one, the lease let go).
SELECT part FROM verification_failures
WHERE transfer_id = :transfer_id AND file_id = :file_id AND part = :part
  AND lease_owner IS NULL AND updated_at = ANY(:times);

-- name: reclaim_expired_failures
UPDATE verification_failures SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE lease_owner IS NOT NULL AND lease_expires < :now
RETURNING part;

-- name: transfer_failures
SELECT * FROM verification_failures WHERE transfer_id = :id ORDER BY file_id, part;

-- name: schedule_checks
UPDATE transfer_files
SET next_check_at = :at, check_owner = NULL, check_expires = NULL, updated_at = :now
WHERE transfer_id = :id AND upload_state = 'uploaded' AND verify_state = 'pending'
  AND check_owner IS NULL;

-- name: reset_file_checks
UPDATE transfer_files
SET verify_state = 'pending', checked_at = NULL, next_check_at = :at, check_owner = NULL,
    check_expires = NULL, updated_at = :now
WHERE transfer_id = :id AND upload_state = 'uploaded';

-- name: reset_failures
DELETE FROM verification_failures WHERE transfer_id = :id;

-- name: reset_transfer_verification
UPDATE transfers SET verify_state = 'pending', verified_at = NULL, updated_at = :now
WHERE id = :id;

-- name: claim_check
-- Lease the due scans of one transfer: the one whose file is due first (a scan whose
-- lease ran out is due), all its due files to one claimer. The claimer locks the
-- transfer's row (FOR NO KEY UPDATE: inserting its files' misses still goes on), so
-- another claimer skips that transfer; the UPDATE repeats what makes a file due, so a
-- claimer whose snapshot predates another's commit changes nothing of it.
WITH first AS MATERIALIZED (
    SELECT t.id FROM transfer_files f
    JOIN transfers t ON t.id = f.transfer_id
    WHERE f.next_check_at IS NOT NULL AND f.next_check_at <= :now
      AND f.verify_state = 'pending' AND f.upload_state = 'uploaded'
      AND (f.check_owner IS NULL OR f.check_expires < :now)
      AND (:only::bigint IS NULL OR f.transfer_id = :only::bigint)
      AND (:servers::text[] IS NULL
           OR COALESCE(t.options -> 'servers', 'null') = 'null'
           OR t.options -> 'servers' ?| :servers::text[])
    ORDER BY f.next_check_at LIMIT 1
    FOR NO KEY UPDATE OF t SKIP LOCKED
)
UPDATE transfer_files f
SET check_owner = :owner, check_expires = :expires, updated_at = :now
WHERE f.transfer_id = (SELECT id FROM first)
  AND f.next_check_at IS NOT NULL AND f.next_check_at <= :now
  AND f.verify_state = 'pending' AND f.upload_state = 'uploaded'
  AND (f.check_owner IS NULL OR f.check_expires < :now)
RETURNING f.transfer_id, f.file_id;

-- name: file_checked
UPDATE transfer_files
SET verify_state = CASE WHEN :missing::boolean THEN verify_state ELSE 'verified' END,
    checked_at = :now, next_check_at = NULL, check_owner = NULL, check_expires = NULL,
    updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = :file_id AND check_owner = :owner;

-- name: release_check
UPDATE transfer_files
SET next_check_at = :at, check_owner = NULL, check_expires = NULL, last_error = :error,
    updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = :file_id AND check_owner = :owner;

-- name: settle_files
UPDATE transfer_files
SET verify_state = CASE WHEN EXISTS (
        SELECT 1 FROM verification_failures v
        WHERE v.transfer_id = transfer_files.transfer_id AND v.file_id = transfer_files.file_id
          AND v.state = 'exhausted') THEN 'verification_failed' ELSE 'verified' END,
    updated_at = :now
WHERE transfer_id = :id AND verify_state = 'pending' AND upload_state = 'uploaded'
  AND checked_at IS NOT NULL AND next_check_at IS NULL
  AND NOT EXISTS (
        SELECT 1 FROM verification_failures v
        WHERE v.transfer_id = transfer_files.transfer_id AND v.file_id = transfer_files.file_id
          AND v.state = 'pending');

-- name: settle_transfer
UPDATE transfers
SET verify_state = :state, verified_at = :now, next_finalize_at = :now, updated_at = :now
WHERE id = :id AND state = 'uploaded' AND verify_state = 'pending';

-- name: file_verify_counts
SELECT COUNT(*) FILTER (WHERE verify_state = 'verified') AS verified,
       COUNT(*) FILTER (WHERE verify_state = 'verification_failed') AS failed,
       COUNT(*) FILTER (WHERE verify_state = 'pending') AS pending,
       COUNT(*) AS files
FROM transfer_files WHERE transfer_id = :id;

-- name: next_due
SELECT MIN(t) AS due FROM (
    SELECT MIN(CASE WHEN f.check_owner IS NOT NULL AND f.check_expires > f.next_check_at
                    THEN f.check_expires ELSE f.next_check_at END) AS t
    FROM transfer_files f JOIN transfers tr ON tr.id = f.transfer_id
    WHERE f.next_check_at IS NOT NULL AND f.verify_state = 'pending'
      AND f.upload_state = 'uploaded'
      AND (:only::bigint IS NULL OR f.transfer_id = :only::bigint)
      AND (:servers::text[] IS NULL
           OR COALESCE(tr.options -> 'servers', 'null') = 'null'
           OR tr.options -> 'servers' ?| :servers::text[])
    UNION ALL
    SELECT MIN(CASE WHEN v.lease_owner IS NOT NULL AND v.lease_expires > v.next_attempt_at
                    THEN v.lease_expires ELSE v.next_attempt_at END)
    FROM verification_failures v JOIN transfers tr ON tr.id = v.transfer_id
    WHERE v.state = 'pending' AND (:only::bigint IS NULL OR v.transfer_id = :only::bigint)
      AND (:servers::text[] IS NULL
           OR COALESCE(tr.options -> 'servers', 'null') = 'null'
           OR tr.options -> 'servers' ?| :servers::text[])
    UNION ALL
    SELECT MIN(CASE WHEN lease_owner IS NOT NULL
                         AND lease_expires > COALESCE(next_finalize_at, 0)
                    THEN lease_expires ELSE COALESCE(next_finalize_at, 0) END)
    FROM transfers
    WHERE verify_state = 'verified' AND finalize_state = 'pending'
      AND (:only::bigint IS NULL OR id = :only::bigint)
) AS due;

-- name: finalizable
SELECT * FROM transfers
WHERE verify_state = 'verified' AND finalize_state = 'pending'
  AND COALESCE(next_finalize_at, 0) <= :now
  AND (lease_owner IS NULL OR lease_expires < :now)
  AND (:only::bigint IS NULL OR id = :only::bigint)
ORDER BY id LIMIT 10;

-- name: set_finalized
UPDATE transfers
SET finalize_state = :state, finalize_attempts = finalize_attempts + :attempts,
    next_finalize_at = NULL, last_error = :error::text, lease_owner = NULL,
    lease_expires = NULL, updated_at = :now
WHERE id = :id AND lease_owner = :owner;

-- name: sweepable
SELECT id, manifest_path FROM transfers
WHERE ((finalize_state = 'done' AND updated_at < :before)
       OR (abandoned_at IS NOT NULL AND abandoned_at < :before)
       OR (state = 'uploaded' AND verify_state = 'pending' AND finished_at < :before
           AND options -> 'verify' = 'false'))
  AND (lease_owner IS NULL OR lease_expires < :now)
ORDER BY id LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: reclaim_expired_checks
UPDATE transfer_files SET check_owner = NULL, check_expires = NULL, updated_at = :now
WHERE check_owner IS NOT NULL AND check_expires < :now
RETURNING file_id;

-- name: reclaim_expired_transfers
UPDATE transfers SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE lease_owner IS NOT NULL AND lease_expires < :now
RETURNING id;

-- name: par2_paths
SELECT source_path FROM transfer_files WHERE role = 'par2';

-- name: enqueue_job
INSERT INTO jobs (path, root, relative, output, priority, size, files, created_at, updated_at)
VALUES (:path, :root, :relative, :output, :priority, :size, :files, :now, :now)
ON CONFLICT (path) WHERE state IN ('queued', 'running') DO NOTHING
RETURNING *;

-- name: last_job_for_path
SELECT * FROM jobs WHERE path = :path ORDER BY id DESC LIMIT 1;

-- name: claim_job
-- Lease the next job: highest priority first, FIFO within a priority, a retry only once
-- its time came, none while the queue is paused, none :instance deferred (until the
-- deferral runs out).
WITH picked AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE state = 'queued' AND next_attempt_at <= :now
      AND NOT EXISTS (SELECT 1 FROM queue_settings WHERE key = 'paused' AND value = '1')
      AND NOT EXISTS (SELECT 1 FROM job_deferrals d
                      WHERE d.job_id = jobs.id AND d.instance = :instance::text
                        AND d.deferred_until > :now)
    ORDER BY priority DESC, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs
SET state = 'running', lease_owner = :owner, lease_expires = :expires,
    started_at = :now, attempts = attempts + 1, updated_at = :now
FROM picked
WHERE jobs.id = picked.id AND jobs.state = 'queued'
RETURNING jobs.*;

-- name: claimed_job
-- The job a claim_job run of :owner took, if it did (its answer was lost): :times are the
-- clocks the runs were given (started_at is set to one).
SELECT * FROM jobs WHERE lease_owner = :owner AND state = 'running' AND started_at = ANY(:times);

-- name: renew_job
UPDATE jobs SET lease_expires = :expires, updated_at = :now
WHERE id = :id AND lease_owner = :owner AND state = 'running'
RETURNING id;

-- name: set_job_transfer
UPDATE jobs SET transfer_id = :transfer_id, updated_at = :now
WHERE id = :id AND lease_owner = :owner;

-- name: end_job
UPDATE jobs
SET state = :state, last_error = :error::text, next_attempt_at = :next_attempt_at,
    attempts = attempts - :give_back, lease_owner = NULL, lease_expires = NULL,
    finished_at = CASE WHEN :state::text IN ('done', 'failed') THEN :now ELSE finished_at END,
    updated_at = :now
WHERE id = :id AND lease_owner = :owner;

-- name: requeue_interrupted
UPDATE jobs
SET state = 'queued', attempts = GREATEST(0, attempts - 1), lease_owner = NULL,
    lease_expires = NULL, updated_at = :now
WHERE state = 'running'
  AND (lease_owner IS NULL OR (lease_owner != :owner AND lease_expires < :now))
RETURNING *;

-- name: list_jobs
SELECT * FROM jobs ORDER BY id DESC LIMIT :limit;

-- name: get_job
SELECT * FROM jobs WHERE id = :id;

-- name: job_counts
SELECT state, COUNT(*) AS n FROM jobs GROUP BY state;

-- name: remove_job
UPDATE jobs SET state = 'removed', updated_at = :now, finished_at = :now
WHERE id = :id AND state IN ('queued', 'failed')
RETURNING id;

-- name: retry_job
UPDATE jobs SET state = 'queued', attempts = 0, next_attempt_at = 0, last_error = NULL,
    finished_at = NULL, updated_at = :now
WHERE id = :id AND state IN ('failed', 'removed')
  AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.path = jobs.path AND j.id != jobs.id
                  AND j.state IN ('queued', 'running'))
RETURNING id;

-- name: retried_job
-- The job a retry_job run did queue again, if it did (its answer was lost): :times are
-- the clocks the runs were given (updated_at is set to one).
SELECT id FROM jobs WHERE id = :id AND state = 'queued' AND updated_at = ANY(:times);

-- name: defer_job
-- As SQLite's (see it).
INSERT INTO job_deferrals (job_id, instance, reason, deferred_at, deferred_until)
SELECT id, :instance::text, :reason::text, :now::float8, :until::float8 FROM jobs
WHERE id = :id AND lease_owner = :owner AND state = 'running'
ON CONFLICT (job_id, instance) DO UPDATE
SET reason = excluded.reason, deferred_at = excluded.deferred_at,
    deferred_until = excluded.deferred_until
RETURNING job_id;

-- name: undeferred_daemons
SELECT COUNT(*) AS n FROM workers w
WHERE w.name = 'daemon' AND w.heartbeat_at >= :stale_before
  AND NOT EXISTS (SELECT 1 FROM job_deferrals d
                  WHERE d.job_id = :id AND d.instance = COALESCE(w.instance, w.owner)
                    AND d.deferred_until > :now);

-- name: job_deferrals
SELECT instance, reason FROM job_deferrals
WHERE job_id = :id AND deferred_until > :now ORDER BY deferred_at, instance;

-- name: clear_deferrals
DELETE FROM job_deferrals WHERE job_id = :id
RETURNING instance;

-- name: get_setting
SELECT value FROM queue_settings WHERE key = :key;

-- name: set_setting
INSERT INTO queue_settings (key, value) VALUES (:key, :value)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: verify_counts
SELECT verify_state, finalize_state, COUNT(*) AS n FROM transfers
WHERE state = 'uploaded' GROUP BY verify_state, finalize_state;

-- name: held_checks
SELECT file_id FROM transfer_files WHERE transfer_id = :transfer_id AND check_owner = :owner;

-- name: transfer_verify_state
SELECT verify_state FROM transfers WHERE id = :id;

-- name: register_worker
INSERT INTO workers (owner, host, pid, process_start, name, instance, started_at, heartbeat_at)
VALUES (:owner, :host, :pid, :process_start, :name, :instance, :now, :now)
ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at;

-- name: heartbeat
-- Also the server's clock, to keep the store's clock on it (base.py).
UPDATE workers SET heartbeat_at = :now WHERE owner = :owner
RETURNING extract(epoch FROM clock_timestamp())::float8 AS server_now;

-- name: list_workers
SELECT * FROM workers ORDER BY started_at, owner;

-- name: leases
-- As SQLite's (see it).
SELECT 'job' AS kind, j.id AS ref, j.lease_owner AS owner, w.instance AS instance,
       w.name AS worker, j.lease_expires AS expires, 1::bigint AS n
FROM jobs j LEFT JOIN workers w ON w.owner = j.lease_owner
WHERE j.state = 'running' AND j.lease_owner IS NOT NULL AND j.lease_expires > :now
UNION ALL
SELECT 'transfer', t.id, t.lease_owner, w.instance, w.name, t.lease_expires, 1
FROM transfers t LEFT JOIN workers w ON w.owner = t.lease_owner
WHERE t.lease_owner IS NOT NULL AND t.lease_expires > :now
UNION ALL
SELECT 'check', f.transfer_id, f.check_owner, w.instance, w.name, MAX(f.check_expires),
       COUNT(*)
FROM transfer_files f LEFT JOIN workers w ON w.owner = f.check_owner
WHERE f.check_owner IS NOT NULL AND f.check_expires > :now
GROUP BY f.transfer_id, f.check_owner, w.instance, w.name
UNION ALL
SELECT 'failure', v.transfer_id, v.lease_owner, w.instance, w.name, MAX(v.lease_expires),
       COUNT(*)
FROM verification_failures v LEFT JOIN workers w ON w.owner = v.lease_owner
WHERE v.lease_owner IS NOT NULL AND v.lease_expires > :now
GROUP BY v.transfer_id, v.lease_owner, w.instance, w.name
ORDER BY kind, ref, owner;

-- name: delete_worker
DELETE FROM workers
WHERE owner = :owner AND (:gone::boolean OR heartbeat_at < :stale_before)
RETURNING owner;

-- name: release_owner_transfers
UPDATE transfers SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE lease_owner = :owner
RETURNING id;

-- name: release_owner_checks
UPDATE transfer_files SET check_owner = NULL, check_expires = NULL, updated_at = :now
WHERE check_owner = :owner
RETURNING file_id;

-- name: release_owner_failures
UPDATE verification_failures SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE lease_owner = :owner
RETURNING part;

-- name: release_owner_jobs
UPDATE jobs SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE lease_owner = :owner AND state = 'running'
RETURNING id;

-- name: put_manifest_frame
INSERT INTO manifest_frames (manifest, byte_offset, data) VALUES (:manifest, :offset, :data)
ON CONFLICT (manifest, byte_offset) DO NOTHING;

-- name: add_manifest_frame
-- Idempotent: a retry finds its own row (the same bytes); another writer's row is false.
WITH added AS (
    INSERT INTO manifest_frames (manifest, byte_offset, data)
    VALUES (:manifest, :offset, :data)
    ON CONFLICT (manifest, byte_offset) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM added)
       OR EXISTS (SELECT 1 FROM manifest_frames
                  WHERE manifest = :manifest AND byte_offset = :offset AND data = :data) AS ok;

-- name: manifest_frames
SELECT byte_offset, data FROM manifest_frames WHERE manifest = :manifest ORDER BY byte_offset;

-- name: manifest_length
SELECT COALESCE(SUM(length(data)), 0)::bigint AS bytes FROM manifest_frames
WHERE manifest = :manifest;

-- name: cut_manifest
DELETE FROM manifest_frames WHERE manifest = :manifest AND byte_offset >= :end
RETURNING byte_offset;

-- name: drop_manifest
DELETE FROM manifest_frames WHERE manifest = :manifest RETURNING byte_offset;

-- name: drop_transfer_manifest
DELETE FROM manifest_frames
WHERE manifest = (SELECT manifest_path FROM transfers WHERE id = :id);
