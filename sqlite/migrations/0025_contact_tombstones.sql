-- segmentd schema, version 25: Constant Contact's deleted contacts
-- (segmentd.DeletedContact). A contact deleted through Constant Contact's
-- face is deleted as any other, and this row is what is left of it: what
-- that face shows of a deleted contact, and what it revives under the
-- same id (docs/constantcontact.md "Deleted contacts"). The email index
-- finds the row a write of that address revives or drops.
CREATE TABLE contact_tombstones (
    account_id INTEGER NOT NULL,
    contact_id TEXT NOT NULL,
    email      TEXT NOT NULL,   -- '' for a contact without one
    first_name TEXT NOT NULL,
    last_name  TEXT NOT NULL,
    details    TEXT NOT NULL,   -- segmentd.EncodeCCDetails of its sources and consent ('' none)
    created_at INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, contact_id)
) WITHOUT ROWID;

CREATE INDEX contact_tombstones_email ON contact_tombstones (account_id, email);
