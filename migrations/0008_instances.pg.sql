-- PostgreSQL's 0008_instances.sql (see it).
ALTER TABLE workers ADD COLUMN instance text;

CREATE TABLE job_deferrals (
    job_id         bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    instance       text   NOT NULL,
    reason         text   NOT NULL,
    deferred_at    double precision NOT NULL,
    deferred_until double precision NOT NULL,
    PRIMARY KEY (job_id, instance)
);
