-- segmentd schema, version 13: events stored compactly (docs/events.md,
-- "Disk and memory at 1M contacts"). At ten million events the table and
-- its two full indexes took about 180 bytes an event; this layout takes
-- about half.
--
-- * WITHOUT ROWID, keyed by (account_id, seq): the rows are the primary
--   key's B-tree, where a rowid table kept them once more in the
--   primary key's index (15 bytes an event).
-- * contact_id: the 16 bytes of the UUID (sqlite/eventcodec.go), not its
--   36 characters; event_type: a small integer code for SendGrid's names;
--   event_source: NULL for 'mail'; sg_event_id: the bytes a hex or base64
--   id spells, after a byte naming the form. Columns declared without a
--   type keep whichever of text, integer or blob they are given.
-- * No events_time index and no sg_event_hash column: the in-memory
--   sg_event_id set (sqlite/eventcache.go) now records each id's seq, so
--   a hit is confirmed through the primary key, and is loaded from the
--   table with the hashes computed from the ids. The retention prune's
--   "is any event older than …" probe reads event_bounds, each account's
--   oldest event time, kept by AddEvents and PruneEvents.
--
-- The old table's pages are free after this; Open vacuums the file once
-- (migrate) so that the data directory shrinks at the upgrade.
CREATE TABLE events_v13 (
    account_id            INTEGER NOT NULL,
    seq                   INTEGER NOT NULL,
    event_timestamp       INTEGER NOT NULL,  -- unix ms
    event_type            NOT NULL,          -- code (eventTypeCodes) or text
    contact_id,                              -- 16-byte UUID or text; NULL until a contact with that email exists
    email                 TEXT NOT NULL,
    event_source          TEXT,              -- NULL: 'mail'
    singlesend_id         TEXT,
    automation_id         TEXT,
    marketing_campaign_id TEXT,
    url                   TEXT,
    sg_event_id,                             -- encodeEventID
    PRIMARY KEY (account_id, seq)
) WITHOUT ROWID;

INSERT INTO events_v13 (account_id, seq, event_timestamp, event_type, contact_id, email, event_source,
    singlesend_id, automation_id, marketing_campaign_id, url, sg_event_id)
SELECT account_id, seq, event_timestamp, segmentd_event_type(event_type), segmentd_contact_id(contact_id), email,
    NULLIF(event_source, 'mail'), singlesend_id, automation_id, marketing_campaign_id, url, segmentd_event_id(sg_event_id)
FROM events ORDER BY account_id, seq;

DROP TABLE events;
ALTER TABLE events_v13 RENAME TO events;

-- Unchanged: events of emails with no contact yet (AttachEvents).
CREATE INDEX events_unattached ON events (account_id, email) WHERE contact_id IS NULL;

CREATE TABLE event_bounds (
    account_id    INTEGER PRIMARY KEY,
    min_timestamp INTEGER NOT NULL  -- the account's oldest event time (unix ms)
);
INSERT INTO event_bounds (account_id, min_timestamp)
SELECT account_id, MIN(event_timestamp) FROM events GROUP BY account_id;
