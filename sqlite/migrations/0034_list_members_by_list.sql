-- segmentd schema, version 34: list_members keyed by (account, list,
-- contact) instead of (account, contact, list) (docs/sqlite.md,
-- "list_members"). An upsert's memberships are all of one list, so with
-- the list first in the key a request's rows land in one region of the
-- table, in contact order (under a thousand pages at a million contacts,
-- where the contact-first key spread a request's 30,000 over about half
-- of the table's pages). The reads by contact seek once per list of the
-- account (sqlite/queries.go), or read each list's range of a page of
-- contacts (the engine's rebuild, sqlite/scan.go).
--
-- * list_members (account_id, list_num, contact_id, added_at), WITHOUT
--   ROWID, keyed by (account_id, list_num, contact_id); every membership
--   is copied.
-- * list_members_list (account_id, list_num, added_at), whose entries
--   end with the contact id, as before: the order of a list's sample.
CREATE TABLE list_members_by_list (
    account_id INTEGER NOT NULL,
    list_num   INTEGER NOT NULL,
    contact_id TEXT NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, list_num, contact_id)
) WITHOUT ROWID;

INSERT INTO list_members_by_list (account_id, list_num, contact_id, added_at)
SELECT account_id, list_num, contact_id, added_at FROM list_members
ORDER BY account_id, list_num, contact_id;

DROP TABLE list_members;
ALTER TABLE list_members_by_list RENAME TO list_members;

CREATE INDEX list_members_list ON list_members (account_id, list_num, added_at);
