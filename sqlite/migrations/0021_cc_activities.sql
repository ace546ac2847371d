-- segmentd schema, version 21: Constant Contact's activities listed
-- (GET /v3/activities reads an account's jobs of the activity types,
-- newest first) and its lists' description and favorite flag.
CREATE INDEX jobs_by_type ON jobs (account_id, job_type, started_at);
ALTER TABLE lists ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN favorite INTEGER NOT NULL DEFAULT 0;
