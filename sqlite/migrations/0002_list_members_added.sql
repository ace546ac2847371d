-- segmentd schema, version 2: indexes for the SQLite store's own queries.

-- ListSample: a list's most recently added members first.
CREATE INDEX list_members_added ON list_members (account_id, list_id, added_at);

-- FailPendingJobs at start: find the few pending jobs without a scan.
CREATE INDEX jobs_pending ON jobs (status) WHERE status = 'pending';
