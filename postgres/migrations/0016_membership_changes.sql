-- segmentd's PostgreSQL schema, version 16: the contacts an upsert only
-- put on lists, in the change history (docs/postgres.md, "Bulk paths").
-- A patch that changes no field of a stored contact (a client re-sending
-- identifiers to add contacts to a list, the bulk of an account's load)
-- leaves the contact's row as it is: its new list_members rows are
-- written, and one row here per upsert, holding the ids of the contacts
-- that joined a list, tells Store.Changes that they changed under that
-- change number, as contacts.change_seq does for a rewritten row. One row
-- of an array rather than a row per contact: a 30,000-contact upsert
-- writes one row and one index entry, not 30,000 of each. The records go
-- when ForgetChanges forgets the numbers, as deletions do. Distributed by
-- account, colocated with contacts.
CREATE TABLE membership_changes (
    account_id  bigint NOT NULL,
    change_seq  bigint NOT NULL,
    contact_ids text[] COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, change_seq)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('membership_changes', 'account_id', colocate_with => 'contacts');
    END IF;
END
$$;
