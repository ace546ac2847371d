-- segmentd schema, version 3: segments and their manual refreshes.

CREATE TABLE segments (
    account_id        INTEGER NOT NULL,
    id                TEXT NOT NULL,      -- uuid
    name              TEXT NOT NULL,
    name_key          TEXT NOT NULL,      -- lower(name): unique among live segments
    query_dsl         TEXT NOT NULL,
    query_version     TEXT NOT NULL,      -- '2' (Segments 2.0 SQL) or '' (v1 SGQL)
    parent_list_ids   TEXT NOT NULL DEFAULT '[]', -- JSON array
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    sample_updated_at INTEGER,
    last_refreshed_at INTEGER,
    deleted_at        INTEGER,            -- NULL while live
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX segments_live_name ON segments (account_id, name_key) WHERE deleted_at IS NULL;

CREATE TABLE segment_refreshes (
    account_id INTEGER NOT NULL,
    segment_id TEXT NOT NULL,
    at         INTEGER NOT NULL,
    time_zone  TEXT NOT NULL DEFAULT '' -- the caller's IANA zone
);
CREATE INDEX segment_refreshes_at ON segment_refreshes (account_id, at);
