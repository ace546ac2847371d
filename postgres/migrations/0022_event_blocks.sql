-- segmentd's PostgreSQL schema, version 22: packed event blocks
-- (docs/postgres.md, "Packed event blocks"). An event batch writes its
-- events that have a contact many to a row of event_blocks, in the
-- encoding of internal/eventblock (the SQLite store's), one row per batch
-- (at most 4,096 numbers), rather than a row of events each with two
-- B-tree entries. Events with no contact yet stay rows of events, which
-- AttachEvents updates; so do the rows stored before this version: every
-- reader merges both by number.
--
-- A block is keyed by its last event's number: blocks never overlap, so
-- the blocks after a number are one range of the key.
CREATE TABLE event_blocks (
    account_id bigint NOT NULL,
    last_seq   bigint NOT NULL,  -- its last event's number
    first_seq  bigint NOT NULL,  -- its first event's number
    min_ts     bigint NOT NULL,  -- its oldest event_timestamp, unix ms
    data       bytea NOT NULL,
    PRIMARY KEY (account_id, last_seq)
);
-- The blocks are compact already: stored out of line without pglz, whose
-- work would save little.
ALTER TABLE event_blocks ALTER COLUMN data SET STORAGE EXTERNAL;

-- Idempotency: every sg_event_id the account's events hold, once. An event
-- batch probes it under the account's lock and adds its new ids; the
-- primary key refuses a duplicate besides, whether its event went to a
-- block or a row.
CREATE TABLE event_ids (
    account_id  bigint NOT NULL,
    sg_event_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, sg_event_id)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('event_blocks', 'account_id', colocate_with => 'contacts');
        PERFORM create_distributed_table('event_ids', 'account_id', colocate_with => 'contacts');
    END IF;
END
$$;

-- The ids of the events stored before: event_ids takes over from the
-- unique index of events, which it makes redundant.
INSERT INTO event_ids (account_id, sg_event_id) SELECT account_id, sg_event_id FROM events WHERE sg_event_id IS NOT NULL;

DROP INDEX events_sg_event_id;
