-- segmentd schema, version 28: packed event blocks (docs/events.md,
-- "Packed event blocks"; sqlite/eventblock.go, sqlite/eventpack.go).
--
-- An account's older events are kept many to a row: a block holds the
-- events of a range of sequence numbers [first_seq, last_seq], in the
-- encoding of eventblock.go, and the rows it holds leave event_rows in the
-- same transaction. The newest events, those without a contact, and those
-- whose attachment the change history records stay rows; readers merge
-- the two by sequence number.
--
-- A rowid table: its rows are large (a block of a few thousand events),
-- and SQLite keeps large rows better in a rowid table, with the key in a
-- small index beside it.
--
-- The events that this migration finds stay rows until Open packs them,
-- after the migrations, a few blocks a transaction (eventpack.go packAll).
--
-- The events view (migration 0015) still reads event_rows alone: segmentd
-- never reads it, and the events it shows are the unpacked ones.
CREATE TABLE event_blocks (
    account_id    INTEGER NOT NULL,
    first_seq     INTEGER NOT NULL,  -- the range of sequence numbers the block covers
    last_seq      INTEGER NOT NULL,
    events        INTEGER NOT NULL,  -- how many it holds
    min_timestamp INTEGER,           -- its oldest event's time (unix ms); NULL when it holds none
    data          BLOB NOT NULL      -- eventblock.go
);
CREATE UNIQUE INDEX event_blocks_seq ON event_blocks (account_id, first_seq);
