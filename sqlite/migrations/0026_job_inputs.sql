-- A pending job's input in the job queue of a shared store
-- (segmentd.JobQueue; docs/jobs.md): the request, encoded, that any server
-- runs the job from. Dropped (set NULL) when the job finishes.
ALTER TABLE jobs ADD COLUMN input BLOB;
