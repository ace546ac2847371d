-- segmentd's PostgreSQL schema, version 2: account resets and deletions
-- (the control plane, docs/admin.md) in the change history. A reset or a
-- deletion takes a change number under the account's lock and records it
-- here, so that every server following the database drops what its engine
-- held of the account (Store.Changes: ResetAt, Dropped). A deleted
-- account's row (dropped) and its account_changes row stay: the servers
-- that had not caught up yet still learn of it.
CREATE TABLE account_resets (
    account_id bigint NOT NULL,
    change_seq bigint NOT NULL,
    dropped    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (account_id, change_seq)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('account_resets', 'account_id', colocate_with => 'contacts');
    END IF;
END
$$;
