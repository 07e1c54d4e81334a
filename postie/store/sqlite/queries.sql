-- Every statement the SQLite store runs, by name (see sql.py beside this file).
--
-- A claim is one statement: UPDATE the rows a subquery picks (free, or their lease ran
-- out; in order; LIMIT n) and RETURN them, so what a claimer gets is exactly what it
-- changed. SQLite runs one writer at a time; in PostgreSQL the same shape takes
-- FOR UPDATE SKIP LOCKED in the subquery (marked where it goes), so concurrent claimers
-- skip each other's rows instead of waiting for them.

-- name: insert_transfer
INSERT INTO transfers (name, roots, roots_key, files_key, options, nzb_path, manifest_path,
                       lease_owner, lease_expires, created_at, updated_at)
VALUES (:name, :roots, :roots_key, :files_key, :options, :nzb_path, :manifest_path,
        :owner, :expires, :now, :now);

-- name: insert_files
-- The store appends one "(?, ...)" group of 11 values per file, many files to a statement:
-- SQLite builds the CHECK constraints' IN lists once per statement run, so executemany
-- (a run per row) took twice as long for a folder of 2,000 files.
INSERT INTO transfer_files (transfer_id, file_id, role, source_path, name, size, mtime_ns,
                            manifest_path, article_count, cleanup, updated_at)
VALUES

-- name: get_transfer
SELECT * FROM transfers WHERE id = :id;

-- name: list_transfers
SELECT * FROM transfers ORDER BY id DESC LIMIT :limit;

-- name: unfinished_by_roots
-- Abandoned ones too (the caller says it starts afresh), newest first.
SELECT * FROM transfers
WHERE roots_key = :roots_key AND state IN ('uploading', 'incomplete')
ORDER BY id DESC;

-- name: uploaded_of
-- The newest uploaded transfer of these files, whatever its verification came to.
SELECT * FROM transfers
WHERE roots_key = :roots_key AND files_key = :files_key AND state = 'uploaded'
ORDER BY id DESC LIMIT 1;

-- name: last_unfinished
SELECT * FROM transfers
WHERE state IN ('uploading', 'incomplete') AND abandoned_at IS NULL
ORDER BY id DESC LIMIT 1;

-- name: abandon
-- Unless another process holds it (a live lease): RETURNING says whether it changed.
UPDATE transfers
SET abandoned_at = :now, last_error = COALESCE(:reason, last_error), lease_owner = NULL,
    lease_expires = NULL, updated_at = :now
WHERE id = :id AND state IN ('uploading', 'incomplete') AND abandoned_at IS NULL
  AND (lease_owner IS NULL OR lease_owner = :owner OR lease_expires < :now)
RETURNING id;

-- name: transfer_files
SELECT * FROM transfer_files WHERE transfer_id = :id ORDER BY file_id;

-- name: file_counts
SELECT transfer_id, COUNT(*) AS files, SUM(size) AS bytes, SUM(article_count) AS articles,
       SUM(upload_state = 'uploaded') AS uploaded
FROM transfer_files GROUP BY transfer_id;

-- name: claim
-- Take the transfer's lease when it is free or expired; the holder itself renews it.
-- One row by its key: PostgreSQL's row lock makes a second claimer wait, then see the
-- new holder.
UPDATE transfers SET lease_owner = :owner, lease_expires = :expires, updated_at = :now
WHERE id = :id AND (lease_owner IS NULL OR lease_owner = :owner OR lease_expires < :now)
RETURNING id;

-- name: release
UPDATE transfers SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE id = :id AND lease_owner = :owner;

-- name: renew
UPDATE transfers
SET lease_expires = :expires, manifest_bytes = MAX(manifest_bytes, :manifest_bytes),
    updated_at = :now
WHERE id = :id AND lease_owner = :owner;

-- name: set_progress
-- The watermark only moves forward; a NULL state leaves the state and error as they are.
UPDATE transfer_files
SET acked = MAX(acked, :acked),
    upload_state = COALESCE(:state, upload_state),
    last_error = CASE WHEN :state IS NULL THEN last_error ELSE :error END,
    updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = :file_id;

-- name: set_uploaded
-- Files with every article acknowledged, as a JSON list of file ids: one statement for
-- any number of files (executemany runs the CHECK constraints' IN lists once per row).
UPDATE transfer_files
SET acked = article_count, upload_state = 'uploaded', last_error = NULL, updated_at = :now
WHERE transfer_id = :transfer_id AND file_id IN (SELECT value FROM json_each(:file_ids));

-- name: set_all_uploaded
UPDATE transfer_files
SET acked = article_count, upload_state = 'uploaded', last_error = NULL, updated_at = :now
WHERE transfer_id = :transfer_id AND (upload_state != 'uploaded' OR acked != article_count);

-- name: insert_accepted_id
INSERT OR REPLACE INTO accepted_ids (transfer_id, file_id, part, message_id)
VALUES (:transfer_id, :file_id, :part, :message_id);

-- name: accepted_ids
SELECT file_id, part, message_id FROM accepted_ids WHERE transfer_id = :id;

-- name: set_transfer_state
UPDATE transfers
SET state = :state, last_error = :error, nzb_path = COALESCE(:nzb_path, nzb_path),
    finished_at = :finished_at, updated_at = :now
WHERE id = :id;

-- name: rewind_manifest
-- A salvaged manifest: what is durable now (only the lease holder may say so).
UPDATE transfers SET manifest_bytes = :manifest_bytes, updated_at = :now
WHERE id = :id AND lease_owner = :owner;

-- name: rewind_file
-- Its parts above :acked lost their manifest lines: they are posted again.
UPDATE transfer_files
SET acked = :acked,
    upload_state = CASE WHEN upload_state = 'uploaded' THEN 'pending' ELSE upload_state END,
    updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = :file_id AND acked > :acked;

-- name: set_targets
UPDATE transfers
SET options = json_set(options, '$.targets', json(:targets)), nzb_path = :nzb_path,
    updated_at = :now
WHERE id = :id;

-- name: delete_transfer
DELETE FROM transfers WHERE id = :id;

-- name: record_miss
-- A STAT found the article missing: a new row, or one more check of a known one.
INSERT INTO verification_failures (transfer_id, file_id, part, message_id, next_attempt_at,
                                   last_error, created_at, updated_at)
VALUES (:transfer_id, :file_id, :part, :message_id, :next_attempt_at, :error, :now, :now)
ON CONFLICT (transfer_id, file_id, part) DO UPDATE
SET check_count = check_count + 1, next_attempt_at = excluded.next_attempt_at,
    last_error = excluded.last_error, updated_at = excluded.updated_at;

-- name: claim_failures
-- Lease up to :limit due missing articles, earliest due first.
UPDATE verification_failures SET lease_owner = :owner, lease_expires = :expires, updated_at = :now
WHERE (transfer_id, file_id, part) IN (
    SELECT transfer_id, file_id, part FROM verification_failures
    WHERE state = 'pending' AND next_attempt_at <= :now
      AND (lease_owner IS NULL OR lease_expires < :now)
      AND (:only IS NULL OR transfer_id = :only)
      AND transfer_id IN (
          SELECT id FROM transfers
          WHERE :servers IS NULL OR json_extract(options, '$.servers') IS NULL
             OR EXISTS (SELECT 1 FROM json_each(transfers.options, '$.servers') AS s
                        JOIN json_each(:servers) AS m ON s.value = m.value))
    ORDER BY next_attempt_at, transfer_id, file_id, part
    LIMIT :limit
    -- PostgreSQL: FOR UPDATE SKIP LOCKED
)
RETURNING *;

-- name: resolve_failure
-- Found on the server: successful articles are not kept.
DELETE FROM verification_failures
WHERE transfer_id = :transfer_id AND file_id = :file_id AND part = :part
  AND lease_owner = :owner;

-- name: reschedule_failure
UPDATE verification_failures
SET state = :state, repost_count = :repost_count, check_count = :check_count,
    next_attempt_at = :next_attempt_at, last_error = :error,
    lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = :file_id AND part = :part
  AND lease_owner = :owner;

-- name: reclaim_expired_failures
UPDATE verification_failures SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE lease_owner IS NOT NULL AND lease_expires < :now;

-- name: transfer_failures
SELECT * FROM verification_failures WHERE transfer_id = :id ORDER BY file_id, part;

-- name: schedule_checks
-- Ask for a STAT scan of the transfer's uploaded files that are not decided yet.
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
-- lease ran out is due). :servers (a JSON list of server labels, or NULL for any): only
-- transfers posted to one of them (or that recorded none) are checked here; another
-- server would miss them all.
UPDATE transfer_files SET check_owner = :owner, check_expires = :expires, updated_at = :now
WHERE (transfer_id, file_id) IN (
    SELECT transfer_id, file_id FROM transfer_files
    WHERE next_check_at IS NOT NULL AND next_check_at <= :now
      AND verify_state = 'pending' AND upload_state = 'uploaded'
      AND (check_owner IS NULL OR check_expires < :now)
      AND transfer_id = (
          SELECT transfer_id FROM transfer_files
          WHERE next_check_at IS NOT NULL AND next_check_at <= :now
            AND verify_state = 'pending' AND upload_state = 'uploaded'
            AND (check_owner IS NULL OR check_expires < :now)
            AND (:only IS NULL OR transfer_id = :only)
            AND transfer_id IN (
                SELECT id FROM transfers
                WHERE :servers IS NULL OR json_extract(options, '$.servers') IS NULL
                   OR EXISTS (SELECT 1 FROM json_each(transfers.options, '$.servers') AS s
                              JOIN json_each(:servers) AS m ON s.value = m.value))
          ORDER BY next_check_at LIMIT 1)
    -- PostgreSQL: FOR UPDATE SKIP LOCKED
)
RETURNING transfer_id, file_id;

-- name: file_checked
-- The scan ended: a file with nothing missing is verified; one with misses waits for them.
UPDATE transfer_files
SET verify_state = CASE WHEN :missing THEN verify_state ELSE 'verified' END,
    checked_at = :now, next_check_at = NULL, check_owner = NULL, check_expires = NULL,
    updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = :file_id AND check_owner = :owner;

-- name: release_check
UPDATE transfer_files
SET next_check_at = :at, check_owner = NULL, check_expires = NULL, last_error = :error,
    updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = :file_id AND check_owner = :owner;

-- name: settle_files
-- A scanned file whose misses are all decided: verified when none is left (each was
-- found in the end), verification_failed when one is exhausted.
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
-- An uploaded transfer is verified when every file is, verification_failed when every
-- file is decided and some failed.
UPDATE transfers
SET verify_state = :state, verified_at = :now, next_finalize_at = :now, updated_at = :now
WHERE id = :id AND state = 'uploaded' AND verify_state = 'pending';

-- name: file_verify_counts
SELECT SUM(verify_state = 'verified') AS verified,
       SUM(verify_state = 'verification_failed') AS failed,
       SUM(verify_state = 'pending') AS pending
FROM transfer_files WHERE transfer_id = :id;

-- name: next_due
-- When the next piece of verification work is due (a leased piece: when its lease ends).
SELECT MIN(t) AS due FROM (
    SELECT MIN(CASE WHEN check_owner IS NOT NULL AND check_expires > next_check_at
                    THEN check_expires ELSE next_check_at END) AS t
    FROM transfer_files
    WHERE next_check_at IS NOT NULL AND verify_state = 'pending' AND upload_state = 'uploaded'
      AND (:only IS NULL OR transfer_id = :only)
      AND transfer_id IN (
      SELECT id FROM transfers
      WHERE :servers IS NULL OR json_extract(options, '$.servers') IS NULL
         OR EXISTS (SELECT 1 FROM json_each(transfers.options, '$.servers') AS s
                    JOIN json_each(:servers) AS m ON s.value = m.value))
    UNION ALL
    SELECT MIN(CASE WHEN lease_owner IS NOT NULL AND lease_expires > next_attempt_at
                    THEN lease_expires ELSE next_attempt_at END)
    FROM verification_failures
    WHERE state = 'pending' AND (:only IS NULL OR transfer_id = :only)
      AND transfer_id IN (
      SELECT id FROM transfers
      WHERE :servers IS NULL OR json_extract(options, '$.servers') IS NULL
         OR EXISTS (SELECT 1 FROM json_each(transfers.options, '$.servers') AS s
                    JOIN json_each(:servers) AS m ON s.value = m.value))
    UNION ALL
    SELECT MIN(CASE WHEN lease_owner IS NOT NULL AND lease_expires > COALESCE(next_finalize_at, 0)
                    THEN lease_expires ELSE COALESCE(next_finalize_at, 0) END)
    FROM transfers
    WHERE verify_state = 'verified' AND finalize_state = 'pending'
      AND (:only IS NULL OR id = :only)
);

-- name: finalizable
SELECT * FROM transfers
WHERE verify_state = 'verified' AND finalize_state = 'pending'
  AND COALESCE(next_finalize_at, 0) <= :now
  AND (lease_owner IS NULL OR lease_expires < :now)
  AND (:only IS NULL OR id = :only)
ORDER BY id LIMIT 10;

-- name: set_finalized
UPDATE transfers
SET finalize_state = :state, finalize_attempts = finalize_attempts + :attempts,
    next_finalize_at = NULL, last_error = :error, lease_owner = NULL, lease_expires = NULL,
    updated_at = :now
WHERE id = :id AND lease_owner = :owner;

-- name: sweepable
-- Finished and past retention: finalized, abandoned, or uploaded without verification asked for.
SELECT id, manifest_path FROM transfers
WHERE ((finalize_state = 'done' AND updated_at < :before)
       OR (abandoned_at IS NOT NULL AND abandoned_at < :before)
       OR (state = 'uploaded' AND verify_state = 'pending' AND finished_at < :before
           AND json_extract(options, '$.verify') = 0))
  AND (lease_owner IS NULL OR lease_expires < :now)
ORDER BY id LIMIT :limit;

-- name: reclaim_expired_checks
UPDATE transfer_files SET check_owner = NULL, check_expires = NULL, updated_at = :now
WHERE check_owner IS NOT NULL AND check_expires < :now;

-- name: reclaim_expired_transfers
UPDATE transfers SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE lease_owner IS NOT NULL AND lease_expires < :now;

-- name: par2_paths
SELECT source_path FROM transfer_files WHERE role = 'par2';


-- name: enqueue_job
INSERT INTO jobs (path, root, relative, output, priority, size, files, created_at, updated_at)
VALUES (:path, :root, :relative, :output, :priority, :size, :files, :now, :now)
ON CONFLICT (path) WHERE state IN ('queued', 'running') DO NOTHING;

-- name: last_job_for_path
SELECT * FROM jobs WHERE path = :path ORDER BY id DESC LIMIT 1;

-- name: claim_job
-- Lease the next job: highest priority first, FIFO within a priority, a retry only once
-- its time came, none while the queue is paused, none :instance deferred (until the
-- deferral runs out).
UPDATE jobs
SET state = 'running', lease_owner = :owner, lease_expires = :expires,
    started_at = :now, attempts = attempts + 1, updated_at = :now
WHERE state = 'queued' AND id IN (
    SELECT id FROM jobs
    WHERE state = 'queued' AND next_attempt_at <= :now
      AND NOT EXISTS (SELECT 1 FROM queue_settings WHERE key = 'paused' AND value = '1')
      AND NOT EXISTS (SELECT 1 FROM job_deferrals d
                      WHERE d.job_id = jobs.id AND d.instance = :instance
                        AND d.deferred_until > :now)
    ORDER BY priority DESC, id
    LIMIT 1
    -- PostgreSQL: FOR UPDATE SKIP LOCKED
)
RETURNING *;

-- name: renew_job
UPDATE jobs SET lease_expires = :expires, updated_at = :now
WHERE id = :id AND lease_owner = :owner AND state = 'running';

-- name: set_job_transfer
UPDATE jobs SET transfer_id = :transfer_id, updated_at = :now
WHERE id = :id AND lease_owner = :owner;

-- name: end_job
-- The worker is done with it for now: done, failed, or queued again (a retry at
-- next_attempt_at; attempts given back when the daemon stopped it, not the job).
UPDATE jobs
SET state = :state, last_error = :error, next_attempt_at = :next_attempt_at,
    attempts = attempts - :give_back, lease_owner = NULL, lease_expires = NULL,
    finished_at = CASE WHEN :state IN ('done', 'failed') THEN :now ELSE finished_at END,
    updated_at = :now
WHERE id = :id AND lease_owner = :owner;

-- name: requeue_interrupted
-- Running jobs that nobody holds (their worker was reaped) or whose lease ran out go back
-- to the queue, their attempt given back; never the caller's own.
UPDATE jobs
SET state = 'queued', attempts = MAX(0, attempts - 1), lease_owner = NULL,
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
WHERE id = :id AND state IN ('queued', 'failed');

-- name: retry_job
UPDATE jobs SET state = 'queued', attempts = 0, next_attempt_at = 0, last_error = NULL,
    finished_at = NULL, updated_at = :now
WHERE id = :id AND state IN ('failed', 'removed')
  AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.path = jobs.path AND j.id != jobs.id
                  AND j.state IN ('queued', 'running'));

-- name: defer_job
-- :instance cannot read the job's path: recorded, if :owner holds the job (no row
-- otherwise). A deferral of the same instance is renewed.
INSERT INTO job_deferrals (job_id, instance, reason, deferred_at, deferred_until)
SELECT id, :instance, :reason, :now, :until FROM jobs
WHERE id = :id AND lease_owner = :owner AND state = 'running'
ON CONFLICT (job_id, instance) DO UPDATE
SET reason = excluded.reason, deferred_at = excluded.deferred_at,
    deferred_until = excluded.deferred_until;

-- name: undeferred_daemons
-- Live daemon workers (heartbeat since :stale_before) whose instance has not deferred the
-- job (a worker without an instance counts as its owner).
SELECT COUNT(*) AS n FROM workers w
WHERE w.name = 'daemon' AND w.heartbeat_at >= :stale_before
  AND NOT EXISTS (SELECT 1 FROM job_deferrals d
                  WHERE d.job_id = :id AND d.instance = COALESCE(w.instance, w.owner)
                    AND d.deferred_until > :now);

-- name: job_deferrals
-- A job's deferrals in force, oldest first.
SELECT instance, reason FROM job_deferrals
WHERE job_id = :id AND deferred_until > :now ORDER BY deferred_at, instance;

-- name: clear_deferrals
DELETE FROM job_deferrals WHERE job_id = :id;

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
UPDATE workers SET heartbeat_at = :now WHERE owner = :owner;

-- name: list_workers
SELECT * FROM workers ORDER BY started_at, owner;

-- name: leases
-- Every lease held now, with its holder's instance (the owner's worker row, if any):
-- jobs and transfers one row each, scans and missing articles one row per transfer and
-- owner, counted.
SELECT 'job' AS kind, j.id AS ref, j.lease_owner AS owner, w.instance AS instance,
       w.name AS worker, j.lease_expires AS expires, 1 AS n
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
-- A worker that ended, or was found dead: its row goes. :gone is false when it was found
-- dead by its heartbeat alone; then the row stays if the worker beat it meanwhile.
DELETE FROM workers WHERE owner = :owner AND (:gone OR heartbeat_at < :stale_before)
RETURNING owner;

-- name: release_owner_transfers
-- Every lease of one owner, released (the owner ended, or was reaped as dead): these four.
UPDATE transfers SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE lease_owner = :owner;

-- name: release_owner_checks
UPDATE transfer_files SET check_owner = NULL, check_expires = NULL, updated_at = :now
WHERE check_owner = :owner;

-- name: release_owner_failures
UPDATE verification_failures SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE lease_owner = :owner;

-- name: release_owner_jobs
-- A running job stays running, held by nobody: requeue_interrupted puts it back in the
-- queue (its attempt given back) and says so.
UPDATE jobs SET lease_owner = NULL, lease_expires = NULL, updated_at = :now
WHERE lease_owner = :owner AND state = 'running';
