-- segmentd schema, version 18: CSV contact imports (segmentd.ImportStore).
-- An import's uploaded rows are stored here as batches until its job has
-- applied them, and its errors file as chunks of CSV, so that a restart
-- finds both. Times are unix milliseconds; mappings and list ids are JSON
-- arrays.
CREATE TABLE imports (
    account_id  INTEGER NOT NULL,
    id          TEXT NOT NULL,
    token       TEXT NOT NULL,
    mappings    TEXT NOT NULL,            -- ["_rf2_T", "", "w1"]: "" skips a column
    list_ids    TEXT NOT NULL,            -- ["<uuid>"]
    state       TEXT NOT NULL,            -- 'awaiting' | 'uploading' | 'queued' | 'done'
    row_count   INTEGER NOT NULL DEFAULT 0,
    batch_count INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX imports_token ON imports (account_id, token);
-- The sweep reads the whole table, which holds only the imports of the
-- last 72 hours.

CREATE TABLE import_chunks (
    account_id INTEGER NOT NULL,
    import_id  TEXT NOT NULL,
    kind       INTEGER NOT NULL,          -- 0 a batch of rows, 1 part of the errors file
    seq        INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (account_id, import_id, kind, seq)
);
