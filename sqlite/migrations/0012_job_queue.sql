-- segmentd schema, version 12: jobs ordered across the servers that share
-- a store (segmentd.JobQueue). A pending job has its account's next job
-- number and the server that owns it until lease_until.
ALTER TABLE jobs ADD COLUMN num INTEGER;
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
CREATE INDEX jobs_queue ON jobs (account_id, num) WHERE status = 'pending';
