-- segmentd's PostgreSQL schema, version 2: contact exports
-- (segmentd.ExportStore). An export's files are stored here too, as
-- numbered chunks of their gzip bytes, so that any server of the database
-- can serve a download. Times are bigint unix milliseconds.
CREATE TABLE exports (
    account_id     bigint NOT NULL,
    id             text COLLATE "C" NOT NULL,
    status         text COLLATE "C" NOT NULL,   -- 'pending' | 'ready' | 'failure'
    export_type    text COLLATE "C" NOT NULL,
    file_type      text COLLATE "C" NOT NULL,   -- 'csv' | 'json'
    lists          jsonb NOT NULL,              -- [{"id","name"}]
    segments       jsonb NOT NULL,              -- [{"id","name"}]
    max_file_bytes bigint NOT NULL,
    notify         boolean NOT NULL,
    token          text COLLATE "C" NOT NULL,
    message        text COLLATE "C",
    contact_count  bigint NOT NULL DEFAULT 0,
    files          jsonb NOT NULL DEFAULT '[]', -- [{"bytes","chunks","contacts"}]
    created_at     bigint NOT NULL,
    updated_at     bigint NOT NULL,
    completed_at   bigint,
    expires_at     bigint NOT NULL,
    lease_until    bigint NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX exports_token ON exports (account_id, token);
-- The sweeps (expired, abandoned) read the whole table, which holds only
-- the exports of the last 72 hours.

CREATE TABLE export_chunks (
    account_id bigint NOT NULL,
    export_id  text COLLATE "C" NOT NULL,
    file       integer NOT NULL,
    seq        integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (account_id, export_id, file, seq)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('exports', 'account_id', colocate_with => 'contacts');
        PERFORM create_distributed_table('export_chunks', 'account_id', colocate_with => 'contacts');
    END IF;
END
$$;
