-- Placeholder on branch webhook-perf only: version 8 belongs to another
-- branch's migration. Drop this file when merging.
SELECT 1;
