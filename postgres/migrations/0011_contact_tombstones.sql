-- segmentd's PostgreSQL schema, version 11: Constant Contact's deleted
-- contacts (segmentd.DeletedContact). A contact deleted through Constant
-- Contact's face is deleted as any other, and this row is what is left of
-- it: what that face shows of a deleted contact, and what it revives
-- under the same id (docs/constantcontact.md "Deleted contacts"). Times
-- are bigint unix milliseconds. Distributed by account, colocated with
-- contacts.
CREATE TABLE contact_tombstones (
    account_id bigint NOT NULL,
    contact_id text COLLATE "C" NOT NULL,
    email      text COLLATE "C" NOT NULL,   -- '' for a contact without one
    first_name text COLLATE "C" NOT NULL,
    last_name  text COLLATE "C" NOT NULL,
    details    text COLLATE "C" NOT NULL,   -- segmentd.EncodeCCDetails ('' none)
    created_at bigint NOT NULL,
    deleted_at bigint NOT NULL,
    PRIMARY KEY (account_id, contact_id)
);

CREATE INDEX contact_tombstones_email ON contact_tombstones (account_id, email);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('contact_tombstones', 'account_id', colocate_with => 'contacts');
    END IF;
END
$$;
