-- segmentd schema, version 13: account resets and deletions (the control
-- plane, docs/admin.md) in the change history. A reset takes a change
-- number and records it here, so that the engine snapshot's replay drops
-- what it held of the account (Store.Changes: ResetAt); a deleted
-- account's row stays here, dropped = 1, as the tombstone that keeps its
-- id from being given out again (SQLite would reuse the largest id).
CREATE TABLE account_resets (
    account_id INTEGER NOT NULL,
    change_seq INTEGER NOT NULL,
    dropped    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, change_seq)
) WITHOUT ROWID;
