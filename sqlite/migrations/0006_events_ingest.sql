-- segmentd schema, version 6: cheaper event ingestion (docs/events.md
-- "Throughput").
--
-- Idempotency is keyed by sg_event_hash, a 64-bit hash of sg_event_id
-- (segmentd_event_hash, sqlite/events.go), in a non-unique index: an
-- INTEGER key is a fraction of the text's size, so far fewer index pages
-- are written per batch; the store compares sg_event_id itself on a hash hit.
-- sg_event_id keeps its text and meaning.
ALTER TABLE events ADD COLUMN sg_event_hash INTEGER;
UPDATE events SET sg_event_hash = segmentd_event_hash(sg_event_id) WHERE sg_event_id IS NOT NULL;
CREATE INDEX events_sg_event_hash ON events (account_id, sg_event_hash) WHERE sg_event_hash IS NOT NULL;
DROP INDEX events_sg_event_id;

-- events_contact indexed every event by a random key (its contact): most of
-- an insert's cost at millions of events. The membership engine answers
-- engagement queries; the SQL the query package generates for events is
-- only run by tests, on small data, where SQLite's automatic indexes serve.
DROP INDEX events_contact;
