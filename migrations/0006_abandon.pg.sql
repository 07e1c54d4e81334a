-- PostgreSQL's 0006_abandon.sql (see it).
ALTER TABLE transfers ADD COLUMN abandoned_at double precision;
