-- segmentd's PostgreSQL schema, version 19: whether an account's
-- membership history is the record of what webhook receivers were told
-- (docs/webhooks.md, "A start without a marked snapshot"). history_gap
-- is 0 while every transition the engine made of the account since it
-- was created is in segment_history (the pruning keeps each segment and
-- contact's last transition when it is an entry), and 1 once some may be
-- missing. An account that existed before this version may have lost
-- transitions, so it starts with a gap; an account created later starts
-- without.
ALTER TABLE accounts ADD COLUMN history_gap integer NOT NULL DEFAULT 0;
UPDATE accounts SET history_gap = 1;
