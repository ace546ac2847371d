-- segmentd schema, version 19: segment webhooks (segmentd.HookStore,
-- docs/webhooks.md). Times are unix milliseconds (0: none).

-- An account's subscriptions, with where each one's delivery stands.
CREATE TABLE webhook_subscriptions (
    account_id    INTEGER NOT NULL,
    id            TEXT NOT NULL,
    url           TEXT NOT NULL,
    description   TEXT NOT NULL,
    segments      TEXT NOT NULL,             -- [{"vendor","id"}]; [] for every segment
    event_types   TEXT NOT NULL,             -- space-separated
    secret        TEXT NOT NULL,             -- whsec_…, needed to sign every message
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    status        TEXT NOT NULL,             -- 'active' | 'failing'
    failing_reason TEXT NOT NULL DEFAULT '',
    cursor        INTEGER NOT NULL,          -- last transition delivered
    inflight      INTEGER NOT NULL DEFAULT 0, -- last transition of the message being tried
    attempts      INTEGER NOT NULL DEFAULT 0,
    first_failure INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, id)
);

-- The outbox: transitions some subscription wants, numbered per account
-- (account_counters 'webhook_transition') in the order they happened.
CREATE TABLE webhook_outbox (
    account_id INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    segment_id TEXT NOT NULL,                -- the engine's id (cc:<id> for Constant Contact)
    contact_id TEXT NOT NULL,
    email      TEXT NOT NULL,
    entered    INTEGER NOT NULL,
    cause      TEXT NOT NULL,
    PRIMARY KEY (account_id, seq)
) WITHOUT ROWID;

-- Each subscription's last attempts.
CREATE TABLE webhook_deliveries (
    account_id      INTEGER NOT NULL,
    subscription_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    message_id      TEXT NOT NULL,
    at              INTEGER NOT NULL,
    transitions     INTEGER NOT NULL,
    status_code     INTEGER NOT NULL,
    latency_us      INTEGER NOT NULL,
    error           TEXT NOT NULL,
    PRIMARY KEY (account_id, subscription_id, seq)
) WITHOUT ROWID;
