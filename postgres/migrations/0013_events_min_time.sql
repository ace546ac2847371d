-- segmentd's PostgreSQL schema, version 13: the oldest event time per
-- account instead of the events_time index (docs/postgres.md). The index
-- cost every event a B-tree entry (about an eighth of the database
-- server's CPU per event) to answer one question at start: whether any of
-- an account's events is older than the retention. account_changes, the
-- row every event batch updates already under the account's lock, now
-- keeps the lowest event_timestamp ever stored (unix ms; NULL: none), a
-- bound that a prune lowers to the truth.
ALTER TABLE account_changes ADD COLUMN event_min_ts bigint;

UPDATE account_changes a SET event_min_ts = m.ts
FROM (SELECT account_id, min(event_timestamp) AS ts FROM events GROUP BY account_id) m
WHERE a.account_id = m.account_id;

DROP INDEX events_time;
