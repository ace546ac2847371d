-- segmentd schema, version 20: Constant Contact's tags (segmentd.TagStore).
-- Names are unique per account ignoring case (name_key = lower(name)).
-- Times are unix milliseconds.
CREATE TABLE tags (
    account_id INTEGER NOT NULL,
    id         TEXT NOT NULL,      -- uuid
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    source     TEXT,               -- tag_source, NULL when none
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, name_key)
);
