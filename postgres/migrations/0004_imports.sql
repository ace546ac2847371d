-- segmentd's PostgreSQL schema, version 4: CSV contact imports
-- (segmentd.ImportStore). An import's uploaded rows are stored here as
-- batches until its job has applied them, and its errors file as chunks of
-- CSV, so that any server of the database can apply the one and serve the
-- other. Times are bigint unix milliseconds.
CREATE TABLE imports (
    account_id  bigint NOT NULL,
    id          text COLLATE "C" NOT NULL,
    token       text COLLATE "C" NOT NULL,
    mappings    jsonb NOT NULL,               -- ["_rf2_T", "", "w1"]: "" skips a column
    list_ids    jsonb NOT NULL,               -- ["<uuid>"]
    state       text COLLATE "C" NOT NULL,    -- 'awaiting' | 'uploading' | 'queued' | 'done'
    row_count   bigint NOT NULL DEFAULT 0,
    batch_count bigint NOT NULL DEFAULT 0,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL,
    lease_until bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX imports_token ON imports (account_id, token);
-- The sweep reads the whole table, which holds only the imports of the
-- last 72 hours.

CREATE TABLE import_chunks (
    account_id bigint NOT NULL,
    import_id  text COLLATE "C" NOT NULL,
    kind       integer NOT NULL,              -- 0 a batch of rows, 1 part of the errors file
    seq        integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (account_id, import_id, kind, seq)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('imports', 'account_id', colocate_with => 'contacts');
        PERFORM create_distributed_table('import_chunks', 'account_id', colocate_with => 'contacts');
    END IF;
END
$$;
