-- segmentd's PostgreSQL schema, version 23: the large values written on
-- the ingest path compressed by lz4 rather than pglz (docs/postgres.md,
-- "Session 15"). A job's input (up to 6 MB a request, written with the
-- pending job and dropped when it finishes), an export's input and a
-- membership_changes row (the ids of up to 30,000 contacts) are TOASTed
-- when stored; pglz spent about 8 ms of the database's CPU on each job's
-- input in the realistic bench, a twelfth of the database's CPU over the
-- contacts, where lz4 compresses as far in a fifth of the time. Values
-- stored before keep their pglz form, which PostgreSQL still reads: SET
-- COMPRESSION applies to values written after it, so no row is rewritten.
-- A server built without lz4 (its default_toast_compression does not offer
-- it) keeps pglz. On Citus the ALTERs reach every shard.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE jobs ALTER COLUMN input SET COMPRESSION lz4;
        ALTER TABLE exports ALTER COLUMN input SET COMPRESSION lz4;
        ALTER TABLE membership_changes ALTER COLUMN contact_ids SET COMPRESSION lz4;
    END IF;
END
$$;
