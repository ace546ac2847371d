-- segmentd schema, version 8: Constant Contact V3 segments. They live apart
-- from SendGrid's segments: their ids are per-account integers, their
-- criteria are Constant Contact's segment_criteria JSON (kept byte for
-- byte), and a deleted one stays readable by id.

CREATE TABLE cc_segments (
    account_id INTEGER NOT NULL,
    segment_id INTEGER NOT NULL,   -- per account: 1, 2, 3, … never reused
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,      -- lower(name): unique among live segments, the name order
    criteria   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    edited_at  INTEGER NOT NULL,
    deleted_at INTEGER,            -- NULL while live
    PRIMARY KEY (account_id, segment_id)
);
-- The live-name index serves both the uniqueness check and sort_by=name;
-- the second serves sort_by=date (edited_at descending).
CREATE UNIQUE INDEX cc_segments_live_name ON cc_segments (account_id, name_key) WHERE deleted_at IS NULL;
CREATE INDEX cc_segments_live_edited ON cc_segments (account_id, edited_at, segment_id) WHERE deleted_at IS NULL;
