-- segmentd schema, version 29: list_members names a list by a small
-- number instead of its 36-character id (docs/sqlite.md, "list_members").
-- Each membership is held twice, as a row of the table and as an entry of
-- list_members_list, and the list's id was 36 of the about 90 bytes of
-- each: at a million contacts on three lists, 556 MiB. A list's number is
-- given when it is made, one more than the account's greatest, and is
-- never seen outside the store; an integer up to 127 takes one byte.
--
-- * lists.num: existing lists are numbered per account in the order they
--   were stored; lists_num (account_id, num) finds a list by its number.
-- * list_members (account_id, contact_id, list_num, added_at), WITHOUT
--   ROWID, keyed by (account_id, contact_id, list_num) as before; the
--   memberships of a list that no longer exists are not copied.
-- * list_members_list (account_id, list_num, added_at), whose entries
--   end with the contact id, as before.
ALTER TABLE lists ADD COLUMN num INTEGER NOT NULL DEFAULT 0;

UPDATE lists SET num = r.n
FROM (SELECT rowid AS rid, row_number() OVER (PARTITION BY account_id ORDER BY rowid) AS n FROM lists) AS r
WHERE lists.rowid = r.rid;

CREATE UNIQUE INDEX lists_num ON lists (account_id, num);

CREATE TABLE list_members_num (
    account_id INTEGER NOT NULL,
    contact_id TEXT NOT NULL,
    list_num   INTEGER NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, contact_id, list_num)
) WITHOUT ROWID;

INSERT INTO list_members_num (account_id, contact_id, list_num, added_at)
SELECT m.account_id, m.contact_id, l.num, m.added_at
FROM list_members m JOIN lists l ON l.account_id = m.account_id AND l.id = m.list_id
ORDER BY m.account_id, m.contact_id, l.num;

DROP TABLE list_members;
ALTER TABLE list_members_num RENAME TO list_members;

CREATE INDEX list_members_list ON list_members (account_id, list_num, added_at);

-- * membership_changes keeps one row per upsert (change number) instead
--   of one per contact: the contacts that only joined lists, packed one
--   after the other, each a UUID as a zero byte and its 16 bytes, any
--   other id as its length in bytes (1 to 255) and its text
--   (sqlite/changes.go, packJoined). A 30,000-contact request writes
--   one row of about 500 kB, in sequence, instead of 30,000 entries of
--   a B-tree. An id longer than 255 bytes has no packed form: its
--   contact's row takes the change number instead (change_seq, which
--   the change history reads too), as the upsert does since.
CREATE TABLE membership_changes_packed (
    account_id  INTEGER NOT NULL,
    change_seq  INTEGER NOT NULL,
    contact_ids BLOB NOT NULL
);

UPDATE contacts SET change_seq = max(change_seq, (
    SELECT max(m.change_seq) FROM membership_changes m
    WHERE m.account_id = contacts.account_id AND m.contact_id = contacts.id))
WHERE length(CAST(id AS BLOB)) > 255
  AND EXISTS (SELECT 1 FROM membership_changes m WHERE m.account_id = contacts.account_id AND m.contact_id = contacts.id);

INSERT INTO membership_changes_packed (account_id, change_seq, contact_ids)
SELECT account_id, change_seq, unhex(group_concat(
    CASE
        WHEN contact_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
            THEN '00' || replace(contact_id, '-', '')
        ELSE printf('%02x', length(CAST(contact_id AS BLOB))) || hex(contact_id)
    END, ''))
FROM membership_changes
WHERE length(CAST(contact_id AS BLOB)) <= 255
GROUP BY account_id, change_seq;

DROP TABLE membership_changes;
ALTER TABLE membership_changes_packed RENAME TO membership_changes;
CREATE INDEX membership_changes_seq ON membership_changes (account_id, change_seq);
