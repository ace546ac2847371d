-- segmentd's PostgreSQL schema, version 17: the membership history found
-- by number. The reconciliations (docs/webhooks.md, "Durability" and
-- "Several servers on one PostgreSQL database") read an account's
-- transitions numbered after a mark; without this index that read
-- scanned every kept transition of the account. Citus creates it on
-- every shard of the distributed table.
CREATE INDEX segment_history_seq ON segment_history (account_id, seq);
