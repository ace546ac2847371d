-- segmentd schema, version 9: a change history, so that the membership
-- engine's snapshot (docs/snapshot.md) can be brought up to date at start by
-- replaying only what changed after it was taken.

-- The store's change sequence: every transaction that writes or deletes
-- contacts, deletes a list or attaches waiting events takes the next number.
-- store_id tells this database from another (a snapshot names the store it
-- was taken from).
CREATE TABLE store_changes (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    store_id TEXT NOT NULL,
    seq      INTEGER NOT NULL
);
INSERT INTO store_changes (id, store_id, seq) VALUES (1, lower(hex(randomblob(16))), 0);

-- The change that last wrote each contact (0: before this history began).
ALTER TABLE contacts ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX contacts_change ON contacts (account_id, change_seq) WHERE change_seq > 0;

-- What was deleted: a contact ('contact', its id), a list ('list', its id),
-- or every contact of the account ('all', ''). Rows a snapshot has taken in
-- are forgotten (ForgetChanges).
CREATE TABLE deletions (
    account_id INTEGER NOT NULL,
    change_seq INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('contact', 'list', 'all')),
    id         TEXT NOT NULL,
    PRIMARY KEY (account_id, change_seq, kind, id)
) WITHOUT ROWID;

-- Events that waited for their contact and were attached to it
-- (AttachEvents) by change change_seq.
CREATE TABLE event_attachments (
    account_id INTEGER NOT NULL,
    change_seq INTEGER NOT NULL,
    event_seq  INTEGER NOT NULL,
    PRIMARY KEY (account_id, change_seq, event_seq)
) WITHOUT ROWID;
