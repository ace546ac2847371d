-- segmentd's PostgreSQL schema, version 26: list_members keeps its
-- contact and list ids as uuid, 16 bytes compared as bytes, instead of
-- 36 characters of text compared by bttextcmp (docs/postgres.md,
-- "Session 19: list_members' keys as uuid"). Every id written there is
-- a UUID in the lower-case hyphenated form segmentd makes (contact ids
-- from id.go, list ids from segmentd.NewID, the SQLite store's the same),
-- which uuid reads back as the same text; a row holding any other text
-- would read back as other text, or not convert, so the migration stops
-- on one rather than change it. The primary key (account_id, contact_id,
-- list_id) and list_members_list (account_id, list_id) are rebuilt by the
-- ALTER as they were; on Citus the ALTER goes to every shard. The casts
-- to text let the tests that rewind the schema to an older version apply
-- this file again over columns it made uuid.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM list_members
               WHERE contact_id::text !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                  OR list_id::text !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') THEN
        RAISE EXCEPTION 'list_members holds an id that is not a lower-case UUID; version 26 keeps them as uuid';
    END IF;
END
$$;

ALTER TABLE list_members
    ALTER COLUMN contact_id TYPE uuid USING contact_id::uuid,
    ALTER COLUMN list_id TYPE uuid USING list_id::uuid;
