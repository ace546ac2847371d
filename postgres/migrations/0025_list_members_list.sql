-- segmentd's PostgreSQL schema, version 25: list_members' second index
-- keyed by (account_id, list_id) alone (docs/postgres.md, "Session 17: a
-- list's sample from the engine"). list_members_added ended with
-- added_at and contact_id for ListSample, a list's most recently added
-- members; a list's sample now comes from the engine, and that index was
-- a large part of each membership's insert cost, every entry distinct.
-- The reads by list (a list's count, its deletion, contacts taken off
-- it) need only the list: B-tree deduplication keeps one key per list
-- and leaf page with a posting list of row pointers, so a list's new
-- members go to its last leaf, merged into a posting list when the page
-- fills rather than splitting it. added_at stays as it is: no read uses
-- it now, and no row loses a value. IF NOT EXISTS and IF EXISTS: the
-- tests that rewind the schema to an older version apply this file
-- again over the index it made.
CREATE INDEX IF NOT EXISTS list_members_list ON list_members (account_id, list_id);

DROP INDEX IF EXISTS list_members_added;
