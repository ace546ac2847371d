-- segmentd schema, version 7: events by time, so that pruning at start finds
-- in one index probe whether any event is past the retention (without it,
-- every start read every event). Events arrive roughly in time order, so
-- this index grows at its right edge and costs little on ingest.
CREATE INDEX events_time ON events (account_id, event_timestamp);
