-- segmentd schema, version 11: catalog changes in the change history. A
-- write of a field definition or a segment (SendGrid's or Constant
-- Contact's) takes a change number too, so that a reader of the history
-- (Store.Changes) learns that it must reload the account's fields and
-- segments.
CREATE TABLE catalog_changes (
    account_id INTEGER NOT NULL,
    change_seq INTEGER NOT NULL,
    PRIMARY KEY (account_id, change_seq)
) WITHOUT ROWID;
