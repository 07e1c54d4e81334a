-- An unfinished transfer a user gave up on (`postie transfers abandon ID`, or superseded
-- by a new transfer of its changed folder): kept as a record, never resumed again.
ALTER TABLE transfers ADD COLUMN abandoned_at REAL;
