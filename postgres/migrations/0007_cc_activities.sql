-- segmentd's PostgreSQL schema, version 7: Constant Contact's activities
-- listed (GET /v3/activities reads an account's jobs of the activity
-- types, newest first) and its lists' description and favorite flag.
CREATE INDEX jobs_by_type ON jobs (account_id, job_type, started_at);
ALTER TABLE lists ADD COLUMN description text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN favorite boolean NOT NULL DEFAULT false;
