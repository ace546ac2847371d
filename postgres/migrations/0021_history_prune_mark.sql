-- segmentd's PostgreSQL schema, version 21: how far the pruning of a
-- segment's history got (docs/history.md, "How it is kept"). After a
-- pass that deleted every prunable transition timed before
-- pruned_before, with pruned_seq the account's last number then, every
-- transition left before that time is its segment and contact's last
-- entry as of that number; the next pass reads only the transitions
-- timed from pruned_before on and the pairs numbered after pruned_seq.
-- 0: no pass yet (the next reads every transition before its cut).
ALTER TABLE history_segments ADD COLUMN pruned_before bigint NOT NULL DEFAULT 0;
ALTER TABLE history_segments ADD COLUMN pruned_seq bigint NOT NULL DEFAULT 0;
