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
-- The rows live in event_rows; events is now a view that gives them in the
-- form of migration 0001 (text ids, type names, 'mail'), so that the SQL
-- the query package generates still runs on the store (the membership
-- tests compare its results with the engine's). segmentd itself reads and
-- writes event_rows only.
--
-- The old table's pages are free after this; Open vacuums the file once
-- (migrate) so that the data directory shrinks at the upgrade.
CREATE TABLE event_rows (
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

INSERT INTO event_rows (account_id, seq, event_timestamp, event_type, contact_id, email, event_source,
    singlesend_id, automation_id, marketing_campaign_id, url, sg_event_id)
SELECT account_id, seq, event_timestamp, segmentd_event_type(event_type), segmentd_contact_id(contact_id), email,
    NULLIF(event_source, 'mail'), singlesend_id, automation_id, marketing_campaign_id, url, segmentd_event_id(sg_event_id)
FROM events ORDER BY account_id, seq;

DROP TABLE events;

-- Unchanged: events of emails with no contact yet (AttachEvents).
CREATE INDEX events_unattached ON event_rows (account_id, email) WHERE contact_id IS NULL;

CREATE VIEW events (account_id, seq, contact_id, email, event_source, event_type, event_timestamp,
    singlesend_id, automation_id, marketing_campaign_id, url) AS
SELECT account_id, seq,
    CASE WHEN typeof(contact_id) = 'blob' THEN lower(substr(hex(contact_id), 1, 8) || '-' || substr(hex(contact_id), 9, 4) || '-' ||
        substr(hex(contact_id), 13, 4) || '-' || substr(hex(contact_id), 17, 4) || '-' || substr(hex(contact_id), 21)) ELSE contact_id END,
    email, COALESCE(event_source, 'mail'),
    CASE event_type WHEN 1 THEN 'processed' WHEN 2 THEN 'delivered' WHEN 3 THEN 'deferred' WHEN 4 THEN 'dropped'
        WHEN 5 THEN 'bounce' WHEN 6 THEN 'open' WHEN 7 THEN 'click' WHEN 8 THEN 'spamreport' WHEN 9 THEN 'unsubscribe'
        WHEN 10 THEN 'group_unsubscribe' WHEN 11 THEN 'group_resubscribe' ELSE event_type END,
    event_timestamp, singlesend_id, automation_id, marketing_campaign_id, url
FROM event_rows;

CREATE TABLE event_bounds (
    account_id    INTEGER PRIMARY KEY,
    min_timestamp INTEGER NOT NULL  -- the account's oldest event time (unix ms)
);
INSERT INTO event_bounds (account_id, min_timestamp)
SELECT account_id, MIN(event_timestamp) FROM event_rows GROUP BY account_id;
