-- segmentd's PostgreSQL schema, version 10: membership history
-- (segmentd.HistoryStore, docs/history.md): every entry and exit of every
-- account's segments, kept for --history-retention. Times are bigint unix
-- milliseconds. Both tables are account tables, distributed by
-- account_id beside contacts.

-- Segments as the history names them: a small number per account.
CREATE TABLE history_segments (
    account_id bigint NOT NULL,
    segment_id text COLLATE "C" NOT NULL,    -- the engine's id (cc:<id> for Constant Contact)
    key        integer NOT NULL,             -- account_counters 'history_segment'
    PRIMARY KEY (account_id, segment_id)
);

-- The transitions. kind is 1 for an entry, 0 for an exit, plus the cause
-- times 2 (1 contact, 2 event, 3 clock, 4 definition); seq is shared with
-- webhook_outbox.
CREATE TABLE segment_history (
    account_id  bigint NOT NULL,
    segment_key integer NOT NULL,
    at          bigint NOT NULL,
    seq         bigint NOT NULL,
    contact_id  text COLLATE "C" NOT NULL,
    email       text COLLATE "C" NOT NULL,
    kind        smallint NOT NULL,
    PRIMARY KEY (account_id, segment_key, at, seq)
);

CREATE INDEX segment_history_contact ON segment_history (account_id, contact_id, segment_key, at);

-- A subscription's replay of a time range: the segments left to replay,
-- the first in progress, and where in it the last message stopped.
CREATE TABLE webhook_replays (
    account_id      bigint NOT NULL,
    subscription_id text COLLATE "C" NOT NULL,
    from_at         bigint NOT NULL,
    to_at           bigint NOT NULL,
    segments        text COLLATE "C" NOT NULL,   -- engine ids, space-separated
    after_at        bigint NOT NULL,
    after_seq       bigint NOT NULL,
    PRIMARY KEY (account_id, subscription_id)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('history_segments', 'account_id', colocate_with => 'contacts');
        PERFORM create_distributed_table('segment_history', 'account_id', colocate_with => 'contacts');
        PERFORM create_distributed_table('webhook_replays', 'account_id', colocate_with => 'contacts');
    END IF;
END
$$;
