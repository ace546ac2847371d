-- segmentd schema, version 13: contact exports (segmentd.ExportStore).
-- An export's files are stored here too, as numbered chunks of their gzip
-- bytes, so that the download needs nothing but the database. Times are
-- unix milliseconds; lists, segments and files are JSON arrays.
CREATE TABLE exports (
    account_id     INTEGER NOT NULL,
    id             TEXT NOT NULL,
    status         TEXT NOT NULL,            -- 'pending' | 'ready' | 'failure'
    export_type    TEXT NOT NULL,
    file_type      TEXT NOT NULL,            -- 'csv' | 'json'
    lists          TEXT NOT NULL,            -- [{"id","name"}]
    segments       TEXT NOT NULL,            -- [{"id","name"}]
    max_file_bytes INTEGER NOT NULL,
    notify         INTEGER NOT NULL,
    token          TEXT NOT NULL,
    message        TEXT,
    contact_count  INTEGER NOT NULL DEFAULT 0,
    files          TEXT NOT NULL DEFAULT '[]', -- [{"bytes","chunks","contacts"}]
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    completed_at   INTEGER,
    expires_at     INTEGER NOT NULL,
    lease_until    INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX exports_token ON exports (account_id, token);
-- The sweeps (expired, abandoned) read the whole table, which holds only
-- the exports of the last 72 hours.

CREATE TABLE export_chunks (
    account_id INTEGER NOT NULL,
    export_id  TEXT NOT NULL,
    file       INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (account_id, export_id, file, seq)
);
