-- segmentd's PostgreSQL schema, version 11: a pending job's input
-- (docs/jobs.md, "On a shared database"). The server that accepts a job
-- stores its request, validated and encoded compactly, in the job's row,
-- in the one statement that stores the job; whichever server runs the job
-- reads it back from there, so an accepted job survives the server that
-- accepted it. The input is dropped (set NULL) when the job finishes.
-- jobs is distributed by account_id already; a column needs nothing more.
ALTER TABLE jobs ADD COLUMN input bytea;
