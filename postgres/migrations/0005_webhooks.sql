-- segmentd's PostgreSQL schema, version 5: segment webhooks
-- (segmentd.HookStore, docs/webhooks.md). Times are bigint unix
-- milliseconds (0: none). Every table is an account table, distributed by
-- account_id beside contacts.

-- An account's subscriptions, with where each one's delivery stands.
CREATE TABLE webhook_subscriptions (
    account_id     bigint NOT NULL,
    id             text COLLATE "C" NOT NULL,
    url            text COLLATE "C" NOT NULL,
    description    text COLLATE "C" NOT NULL,
    segments       jsonb NOT NULL,              -- [{"vendor","id"}]; [] for every segment
    event_types    text COLLATE "C" NOT NULL,   -- space-separated
    secret         text COLLATE "C" NOT NULL,   -- whsec_…, needed to sign every message
    created_at     bigint NOT NULL,
    updated_at     bigint NOT NULL,
    status         text COLLATE "C" NOT NULL,   -- 'active' | 'failing'
    failing_reason text COLLATE "C" NOT NULL DEFAULT '',
    cursor         bigint NOT NULL,             -- last transition delivered
    inflight       bigint NOT NULL DEFAULT 0,   -- last transition of the message being tried
    attempts       integer NOT NULL DEFAULT 0,
    first_failure  bigint NOT NULL DEFAULT 0,
    next_attempt   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, id)
);

-- The outbox: transitions some subscription wants, numbered per account
-- (account_counters 'webhook_transition') in the order they happened.
CREATE TABLE webhook_outbox (
    account_id bigint NOT NULL,
    seq        bigint NOT NULL,
    at         bigint NOT NULL,
    segment_id text COLLATE "C" NOT NULL,        -- the engine's id (cc:<id> for Constant Contact)
    contact_id text COLLATE "C" NOT NULL,
    email      text COLLATE "C" NOT NULL,
    entered    boolean NOT NULL,
    cause      text COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, seq)
);

-- Each subscription's last attempts.
CREATE TABLE webhook_deliveries (
    account_id      bigint NOT NULL,
    subscription_id text COLLATE "C" NOT NULL,
    seq             bigint NOT NULL,
    message_id      text COLLATE "C" NOT NULL,
    at              bigint NOT NULL,
    transitions     integer NOT NULL,
    status_code     integer NOT NULL,
    latency_us      bigint NOT NULL,
    error           text COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, subscription_id, seq)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('webhook_subscriptions', 'account_id', colocate_with => 'contacts');
        PERFORM create_distributed_table('webhook_outbox', 'account_id', colocate_with => 'contacts');
        PERFORM create_distributed_table('webhook_deliveries', 'account_id', colocate_with => 'contacts');
    END IF;
END
$$;
