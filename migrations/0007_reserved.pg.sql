-- A placeholder for version 7, which another branch adds (migrations/0007_*): the
-- sequence must have no gap for 0008 to apply. Dropped when that branch's 0007 is merged.
SELECT 1;
