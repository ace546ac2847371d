-- segmentd schema, version 24: membership history (segmentd.HistoryStore,
-- docs/history.md): every entry and exit of every account's segments,
-- kept for --history-retention. Times are unix milliseconds.

-- Segments as the history names them: a small number per account, so
-- that a transition's row and its index entry hold a few bytes instead
-- of the segment's 36-character id twice.
CREATE TABLE history_segments (
    account_id INTEGER NOT NULL,
    segment_id TEXT NOT NULL,                -- the engine's id (cc:<id> for Constant Contact)
    key        INTEGER NOT NULL,             -- account_counters 'history_segment'
    PRIMARY KEY (account_id, segment_id)
) WITHOUT ROWID;

-- The transitions, clustered by segment and time: a segment's size
-- series, its transitions in a range and its members at a past time read
-- one range of the key. kind is 1 for an entry, 0 for an exit, plus the
-- cause times 2 (1 contact, 2 event, 3 clock, 4 definition). seq is the
-- transition's number, shared with webhook_outbox (tr_<account>_<seq>).
CREATE TABLE segment_history (
    account_id  INTEGER NOT NULL,
    segment_key INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    contact_id  TEXT NOT NULL,
    email       TEXT NOT NULL,
    kind        INTEGER NOT NULL,
    PRIMARY KEY (account_id, segment_key, at, seq)
) WITHOUT ROWID;

-- Whether a contact was in a segment at a time: its first transition
-- after that time.
CREATE INDEX segment_history_contact ON segment_history (account_id, contact_id, segment_key, at);

-- A subscription's replay of a time range (POST
-- /segmentd/v1/webhooks/{id}/replay): the segments left to replay, the
-- first in progress, and where in it the last message delivered stopped.
CREATE TABLE webhook_replays (
    account_id      INTEGER NOT NULL,
    subscription_id TEXT NOT NULL,
    from_at         INTEGER NOT NULL,
    to_at           INTEGER NOT NULL,
    segments        TEXT NOT NULL,           -- engine ids, space-separated
    after_at        INTEGER NOT NULL,
    after_seq       INTEGER NOT NULL,
    PRIMARY KEY (account_id, subscription_id)
) WITHOUT ROWID;
