-- segmentd schema, version 17: list_members stored once, clustered by
-- contact, and the membership-only changes kept apart, only until a
-- snapshot takes them in (docs/sqlite.md, "list_members"). At a million
-- contacts on three lists each, list_members and its indexes took 876 MiB:
-- the rowid table and its primary key held every membership twice (266
-- and 269 MiB), list_members_contact and list_members_added most of it a
-- third and fourth time, and list_members_change the 2M membership-only
-- rows once more.
--
-- * WITHOUT ROWID, keyed by (account_id, contact_id, list_id), as on
--   PostgreSQL: the rows are the primary key's B-tree, and a contact's
--   memberships sit side by side, so reading a contact's lists (every
--   sample, every upsert, the engine's rebuild) reads them where they
--   are, with no index to probe and no table row to fetch after it. The
--   key holds the same pairs as the old (account_id, list_id,
--   contact_id): one membership a pair.
-- * list_members_list (account_id, list_id, added_at), whose entries end
--   with the key's other column (contact_id), serves everything asked by
--   list: counts, a list's delete, and its sample, most recently added
--   first (ties: the greater contact id first; a batch's memberships are
--   written in contact id order, so within a batch this is still the
--   later insert first).
-- * membership_changes: the contacts an upsert only added to lists
--   (their rows not written), one row a contact and change, where
--   list_members' change_seq and its partial index were. ForgetChanges
--   deletes those a snapshot has taken in, as it does deletions, so at
--   rest the table is nearly empty.
CREATE TABLE list_members_by_contact (
    account_id INTEGER NOT NULL,
    contact_id TEXT NOT NULL,
    list_id    TEXT NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, contact_id, list_id)
) WITHOUT ROWID;

INSERT INTO list_members_by_contact (account_id, contact_id, list_id, added_at)
SELECT account_id, contact_id, list_id, added_at FROM list_members ORDER BY account_id, contact_id, list_id;

CREATE TABLE membership_changes (
    account_id INTEGER NOT NULL,
    change_seq INTEGER NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (account_id, change_seq, contact_id)
) WITHOUT ROWID;

INSERT OR IGNORE INTO membership_changes (account_id, change_seq, contact_id)
SELECT account_id, change_seq, contact_id FROM list_members WHERE change_seq > 0 ORDER BY account_id, change_seq, contact_id;

DROP TABLE list_members;
ALTER TABLE list_members_by_contact RENAME TO list_members;

CREATE INDEX list_members_list ON list_members (account_id, list_id, added_at);
