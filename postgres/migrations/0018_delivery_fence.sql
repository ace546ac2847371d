-- segmentd's PostgreSQL schema, version 18: the delivery fence
-- (docs/webhooks.md, "The fence"). Each server that takes the webhook
-- delivery lock adds one to epoch and remembers the value; its stores of
-- transitions check that the epoch is still theirs, so a server that lost
-- the lock (its session ended while the process lives) stores nothing
-- after another took it over. One row; on Citus a reference table, read
-- from the placement of the node that holds the account's shard.
CREATE TABLE delivery_fence (
    id    integer PRIMARY KEY CHECK (id = 1),
    epoch bigint NOT NULL
);

INSERT INTO delivery_fence (id, epoch) VALUES (1, 0);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_reference_table('delivery_fence');
    END IF;
END
$$;
