-- segmentd schema, version 1.
--
-- Conventions, shared with the PostgreSQL store and the query package's SQL generator:
--   * every row is scoped by account_id (INTEGER);
--   * times are INTEGER unix milliseconds, UTC;
--   * an unset or empty text value is NULL, never '';
--   * emails (email, alternate_emails) are stored lower-cased;
--   * alternate_emails is a JSON array of strings ('[]' when empty);
--   * custom_fields is a JSON object keyed by custom field id ('w1', 'n2', 'd3'):
--     Text -> JSON string, Number -> JSON number, Date -> JSON integer (unix ms).

CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY,
    parent_id  INTEGER REFERENCES accounts(id),
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE, -- hex SHA-256 of the key
    scopes     TEXT NOT NULL,        -- space-separated
    created_at INTEGER NOT NULL
);

-- Custom field definitions. Reserved fields are not stored: they are constants.
CREATE TABLE field_definitions (
    account_id INTEGER NOT NULL,
    id         TEXT NOT NULL,         -- 'w1' (Text), 'n2' (Number), 'd3' (Date)
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,         -- lower(name), for case-insensitive uniqueness
    field_type TEXT NOT NULL CHECK (field_type IN ('Text', 'Number', 'Date')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, name_key)
);

-- Per-account counters (next custom field number, ...).
CREATE TABLE account_counters (
    account_id INTEGER NOT NULL,
    name       TEXT NOT NULL,
    value      INTEGER NOT NULL,
    PRIMARY KEY (account_id, name)
);

CREATE TABLE lists (
    account_id INTEGER NOT NULL,
    id         TEXT NOT NULL,          -- uuid
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,          -- lower(name)
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, name_key)
);

CREATE TABLE contacts (
    account_id            INTEGER NOT NULL,
    id                    TEXT NOT NULL,   -- uuid
    email                 TEXT,
    phone_number_id       TEXT,
    external_id           TEXT,
    anonymous_id          TEXT,
    first_name            TEXT,
    last_name             TEXT,
    address_line_1        TEXT,
    address_line_2        TEXT,
    city                  TEXT,
    state_province_region TEXT,
    postal_code           TEXT,
    country               TEXT,
    phone_number          TEXT,
    whatsapp              TEXT,
    line                  TEXT,
    facebook              TEXT,
    unique_name           TEXT,
    alternate_emails      TEXT NOT NULL DEFAULT '[]',
    custom_fields         TEXT NOT NULL DEFAULT '{}',
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX contacts_email ON contacts (account_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX contacts_phone_number_id ON contacts (account_id, phone_number_id) WHERE phone_number_id IS NOT NULL;
CREATE UNIQUE INDEX contacts_external_id ON contacts (account_id, external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX contacts_anonymous_id ON contacts (account_id, anonymous_id) WHERE anonymous_id IS NOT NULL;
CREATE INDEX contacts_updated ON contacts (account_id, updated_at);

-- Alternate emails, one row each, so that search by email can find them by index.
CREATE TABLE contact_alternate_emails (
    account_id INTEGER NOT NULL,
    email      TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (account_id, email, contact_id)
);
CREATE INDEX contact_alternate_emails_contact ON contact_alternate_emails (account_id, contact_id);

CREATE TABLE list_members (
    account_id INTEGER NOT NULL,
    list_id    TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, list_id, contact_id)
);
CREATE INDEX list_members_contact ON list_members (account_id, contact_id);

-- Engagement events (SendGrid Event Webhook), the event_data columns of
-- docs/decisions.md §5.
CREATE TABLE events (
    account_id            INTEGER NOT NULL,
    seq                   INTEGER NOT NULL,  -- per-store insertion order
    contact_id            TEXT,              -- NULL until a contact with that email exists
    email                 TEXT NOT NULL,
    event_source          TEXT NOT NULL DEFAULT 'mail',
    event_type            TEXT NOT NULL,
    event_timestamp       INTEGER NOT NULL,  -- unix ms
    singlesend_id         TEXT,
    automation_id         TEXT,
    marketing_campaign_id TEXT,
    url                   TEXT,
    sg_event_id           TEXT,
    PRIMARY KEY (account_id, seq)
);
CREATE INDEX events_contact ON events (account_id, contact_id, event_type, event_timestamp);
CREATE UNIQUE INDEX events_sg_event_id ON events (account_id, sg_event_id) WHERE sg_event_id IS NOT NULL;

CREATE TABLE jobs (
    account_id  INTEGER NOT NULL,
    id          TEXT NOT NULL,      -- uuid
    job_type    TEXT NOT NULL,      -- 'upsert' | 'delete'
    status      TEXT NOT NULL,      -- 'pending' | 'completed' | 'errored' | 'failed'
    requested   INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    deleted     INTEGER NOT NULL DEFAULT 0,
    errored     INTEGER NOT NULL DEFAULT 0,
    errors      TEXT NOT NULL DEFAULT '[]', -- JSON array of {index, message, field}
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (account_id, id)
);
