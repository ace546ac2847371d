-- segmentd schema, version 10: event ingestion without a random-key index
-- (docs/events.md "Throughput").
--
-- events_sg_event_hash indexed every event by a random key (the hash of its
-- sg_event_id): at ten million events, each inserted event dirtied its own
-- index page, about 4 MB of WAL per 1,000-event batch. The store now keeps
-- each account's sg_event_hash values in memory (sqlite/eventids.go) and
-- confirms a hit through events_time, which carries the hash after the
-- timestamp: a redelivered event has the same timestamp, so the check is one
-- probe, and events arrive roughly in time order, so this index grows near
-- its right edge. It is also what the in-memory set is loaded from (a
-- covering scan, without reading the table).
DROP INDEX IF EXISTS events_sg_event_hash;
DROP INDEX IF EXISTS events_time;
CREATE INDEX events_time ON events (account_id, event_timestamp, sg_event_hash);
