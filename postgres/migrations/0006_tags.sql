-- segmentd's PostgreSQL schema, version 6: Constant Contact's tags
-- (segmentd.TagStore), distributed by account like every account table.
-- Names are unique per account ignoring case (name_key = lower(name)).
-- Times are bigint unix milliseconds.
CREATE TABLE tags (
    account_id bigint NOT NULL,
    id         text COLLATE "C" NOT NULL,   -- uuid
    name       text COLLATE "C" NOT NULL,
    name_key   text COLLATE "C" NOT NULL,
    source     text COLLATE "C",            -- tag_source, NULL when none
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, name_key)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('tags', 'account_id', colocate_with => 'contacts');
    END IF;
END
$$;
