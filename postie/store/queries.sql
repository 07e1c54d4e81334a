-- Every statement the transfer store runs, by name (see postie/store/sql.py).

-- name: insert_transfer
INSERT INTO transfers (name, roots, roots_key, files_key, options, nzb_path, manifest_path,
                       lease_owner, lease_expires, created_at, updated_at)
VALUES (:name, :roots, :roots_key, :files_key, :options, :nzb_path, :manifest_path,
        :owner, :expires, :now, :now);

-- name: insert_file
INSERT INTO transfer_files (transfer_id, file_id, role, source_path, name, size, mtime_ns,
                            manifest_path, article_count, updated_at)
VALUES (:transfer_id, :file_id, :role, :source_path, :name, :size, :mtime_ns,
        :manifest_path, :article_count, :now);

-- name: get_transfer
SELECT * FROM transfers WHERE id = :id;

-- name: list_transfers
SELECT * FROM transfers ORDER BY id DESC LIMIT :limit;

-- name: unfinished_by_roots
SELECT * FROM transfers
WHERE roots_key = :roots_key AND state IN ('uploading', 'incomplete')
ORDER BY id DESC;

-- name: last_unfinished
SELECT * FROM transfers WHERE state IN ('uploading', 'incomplete') ORDER BY id DESC LIMIT 1;

-- name: transfer_files
SELECT * FROM transfer_files WHERE transfer_id = :id ORDER BY file_id;

-- name: file_counts
SELECT transfer_id, COUNT(*) AS files, SUM(size) AS bytes, SUM(article_count) AS articles,
       SUM(upload_state = 'uploaded') AS uploaded
FROM transfer_files GROUP BY transfer_id;

-- name: claim
-- Take the transfer's lease unless another owner holds one that has not expired.
UPDATE transfers SET lease_owner = :owner, lease_expires = :expires, updated_at = :now
WHERE id = :id AND (lease_owner IS NULL OR lease_owner = :owner OR lease_owner = :gone
                    OR lease_expires < :now);

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

-- name: due_failures
SELECT * FROM verification_failures
WHERE state = 'pending' AND next_attempt_at <= :now
  AND (lease_owner IS NULL OR lease_expires < :now)
ORDER BY next_attempt_at, transfer_id, file_id, part
LIMIT :limit;

-- name: lease_failure
UPDATE verification_failures SET lease_owner = :owner, lease_expires = :expires, updated_at = :now
WHERE transfer_id = :transfer_id AND file_id = :file_id AND part = :part;

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
