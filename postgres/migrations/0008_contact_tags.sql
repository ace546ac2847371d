-- segmentd's PostgreSQL schema, version 8: Constant Contact's taggings,
-- which tag a contact has (segmentd.Contact.TagIDs), stored as
-- list_members are: keyed by contact (a contact's tags read with its
-- row), with an index by tag (counts, a tag's delete, GET /v3/contacts
-- ?tags=), distributed by account and colocated with contacts. A tagging
-- change stamps the contacts it changed with its change number
-- (contacts.change_seq), so the change history reports them as written.
CREATE TABLE contact_tags (
    account_id bigint NOT NULL,
    contact_id text COLLATE "C" NOT NULL,
    tag_id     text COLLATE "C" NOT NULL,
    added_at   bigint NOT NULL,
    PRIMARY KEY (account_id, contact_id, tag_id)
);
CREATE INDEX contact_tags_tag ON contact_tags (account_id, tag_id, contact_id);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('contact_tags', 'account_id', colocate_with => 'contacts');
    END IF;
END
$$;
