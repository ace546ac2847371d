-- segmentd schema, version 16: an upsert that only adds contacts to lists
-- (the patch changes none of the contact's fields: a client re-sending
-- identifiers because an upsert's list_ids apply to the whole request)
-- writes list_members rows and leaves the contact's row alone. The change
-- history learns of it from the membership rows, which carry the change
-- that added them; rows from before this version carry 0 (their contacts'
-- rows were stamped when they were added). The index grows at its right
-- edge, as change numbers only increase.
ALTER TABLE list_members ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX list_members_change ON list_members (account_id, change_seq) WHERE change_seq > 0;
