-- segmentd schema, version 30: the membership history found by number.
-- The reconciliations (docs/webhooks.md, "Durability" and "Several
-- servers on one PostgreSQL database") read an account's transitions
-- numbered after a mark; without this index that read scanned every
-- kept transition of the account. Each entry holds the account, the
-- number and the table's key (the segment and the time).
CREATE INDEX segment_history_seq ON segment_history (account_id, seq);
