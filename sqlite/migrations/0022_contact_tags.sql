-- segmentd schema, version 22: Constant Contact's taggings, which tag a
-- contact has (segmentd.Contact.TagIDs), stored as list_members are
-- (version 17): WITHOUT ROWID, keyed by contact so that a contact's tags
-- are read where they sit, with an index by tag for counts, a tag's
-- delete and the tags filter of GET /v3/contacts. A tagging change
-- stamps the contacts it changed with its change number
-- (contacts.change_seq), so the change history reports them as written.
CREATE TABLE contact_tags (
    account_id INTEGER NOT NULL,
    contact_id TEXT NOT NULL,
    tag_id     TEXT NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, contact_id, tag_id)
) WITHOUT ROWID;

CREATE INDEX contact_tags_tag ON contact_tags (account_id, tag_id);
