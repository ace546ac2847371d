-- segmentd's PostgreSQL schema, version 1 (docs/postgres.md).
--
-- It mirrors the SQLite store's schema (sqlite/migrations), with the same
-- table and column names, so that the query package's SQL reads both:
--   * times are bigint unix milliseconds, UTC;
--   * ids are text (canonical UUIDs, 'w1'/'n2'/'d3' field ids);
--   * an unset text value is NULL, never '';
--   * emails (email, alternate_emails) are stored lower-cased;
--   * alternate_emails is a jsonb array of strings ('[]' when empty);
--   * custom_fields is a jsonb object keyed by custom field id:
--     Text -> JSON string, Number -> JSON number, Date -> JSON integer (unix ms).
--
-- Distribution (Citus). accounts, api_keys and store_identity are global:
-- reference tables, a copy on every node. Every other table belongs to one
-- account: it carries account_id bigint NOT NULL, which begins its primary
-- key and every unique index, and, on Citus, is distributed by account_id
-- and colocated with contacts, so that all of an account's rows live on one
-- node and a query filtered on account_id runs there alone. On plain
-- PostgreSQL the same tables stay undistributed.
--
-- No foreign keys between account tables: the store deletes a contact's
-- memberships and alternate emails with it, in the same transaction under
-- the account's lock, and a key would check each of a 30,000-contact
-- upsert's memberships one by one (a third of its time). A key added later
-- must include account_id on both sides, as Citus requires (the schema test
-- checks it). schema_migrations stays on the coordinator.
--
-- Every text column compares byte by byte (COLLATE "C"), whatever the
-- database's default collation: as SQLite's and Go's strings do, so that
-- keyset pages by id, name order and the generated SQL's comparisons agree
-- with the SQLite store and the query package's evaluator.
--
-- Order of statements (Citus's rules): tables, then their distribution,
-- then the foreign keys, then rows of reference tables.

-- Global tables.

CREATE TABLE accounts (
    id         bigserial PRIMARY KEY,
    parent_id  bigint REFERENCES accounts (id),
    name       text COLLATE "C" NOT NULL UNIQUE,
    created_at bigint NOT NULL
);

CREATE TABLE api_keys (
    id         bigserial PRIMARY KEY,
    account_id bigint NOT NULL,         -- the account (api_keys_account_fk, below)
    name       text COLLATE "C" NOT NULL,
    hash       text COLLATE "C" NOT NULL UNIQUE, -- hex SHA-256 of the key: how a request finds its key
    scopes     text COLLATE "C" NOT NULL,        -- space-separated
    created_at bigint NOT NULL
);

-- store_id tells this database from another (an engine snapshot names the
-- store it was taken from).
CREATE TABLE store_identity (
    id       int PRIMARY KEY CHECK (id = 1),
    store_id text COLLATE "C" NOT NULL
);

-- Account tables.

-- Each account's row: the lock every write of the account's data takes
-- first, and the account's two counters, taken under it: change_seq numbers
-- the account's changes (the change history), event_seq its events. Taken
-- under the row lock, numbers are given in commit order within an account,
-- which a reader tailing "seq > last" needs (a SEQUENCE would give them out
-- of commit order). Created by the account's first write.
CREATE TABLE account_changes (
    account_id bigint PRIMARY KEY,
    change_seq bigint NOT NULL DEFAULT 0,
    event_seq  bigint NOT NULL DEFAULT 0
);

-- Custom field definitions. Reserved fields are not stored: they are constants.
CREATE TABLE field_definitions (
    account_id bigint NOT NULL,
    id         text COLLATE "C" NOT NULL,         -- 'w1' (Text), 'n2' (Number), 'd3' (Date)
    name       text COLLATE "C" NOT NULL,
    name_key   text COLLATE "C" NOT NULL,         -- lower(name), for case-insensitive uniqueness
    field_type text COLLATE "C" NOT NULL CHECK (field_type IN ('Text', 'Number', 'Date')),
    created_at bigint NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, name_key)
);

-- Per-account counters (the next custom field number).
CREATE TABLE account_counters (
    account_id bigint NOT NULL,
    name       text COLLATE "C" NOT NULL,
    value      bigint NOT NULL,
    PRIMARY KEY (account_id, name)
);

CREATE TABLE lists (
    account_id bigint NOT NULL,
    id         text COLLATE "C" NOT NULL,          -- uuid
    name       text COLLATE "C" NOT NULL,
    name_key   text COLLATE "C" NOT NULL,          -- lower(name)
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, name_key)
);

CREATE TABLE contacts (
    account_id            bigint NOT NULL,
    id                    text COLLATE "C" NOT NULL,   -- uuid
    email                 text COLLATE "C",
    phone_number_id       text COLLATE "C",
    external_id           text COLLATE "C",
    anonymous_id          text COLLATE "C",
    first_name            text COLLATE "C",
    last_name             text COLLATE "C",
    address_line_1        text COLLATE "C",
    address_line_2        text COLLATE "C",
    city                  text COLLATE "C",
    state_province_region text COLLATE "C",
    postal_code           text COLLATE "C",
    country               text COLLATE "C",
    phone_number          text COLLATE "C",
    whatsapp              text COLLATE "C",
    line                  text COLLATE "C",
    facebook              text COLLATE "C",
    unique_name           text COLLATE "C",
    alternate_emails      jsonb NOT NULL DEFAULT '[]',
    custom_fields         jsonb NOT NULL DEFAULT '{}',
    created_at            bigint NOT NULL,
    updated_at            bigint NOT NULL,
    change_seq            bigint NOT NULL DEFAULT 0, -- the change that last wrote the contact
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX contacts_email ON contacts (account_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX contacts_phone_number_id ON contacts (account_id, phone_number_id) WHERE phone_number_id IS NOT NULL;
CREATE UNIQUE INDEX contacts_external_id ON contacts (account_id, external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX contacts_anonymous_id ON contacts (account_id, anonymous_id) WHERE anonymous_id IS NOT NULL;
-- SampleContacts: the most recently updated first (ties: the newest id).
CREATE INDEX contacts_updated ON contacts (account_id, updated_at, id);
-- ContactChanges: the contacts written after a change number.
CREATE INDEX contacts_change ON contacts (account_id, change_seq);

-- Alternate emails, one row each, so that search by email finds them by index.
CREATE TABLE contact_alternate_emails (
    account_id bigint NOT NULL,
    email      text COLLATE "C" NOT NULL,
    contact_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, email, contact_id)
);
CREATE INDEX contact_alternate_emails_contact ON contact_alternate_emails (account_id, contact_id);

-- The primary key leads with the contact (a contact's lists, with the
-- contact's row), list_members_added with the list (a list's members,
-- count and sample): two indexes serve every read, as few as an insert of
-- 30,000 memberships can maintain.
CREATE TABLE list_members (
    account_id bigint NOT NULL,
    list_id    text COLLATE "C" NOT NULL,
    contact_id text COLLATE "C" NOT NULL,
    added_at   bigint NOT NULL,
    PRIMARY KEY (account_id, contact_id, list_id)
);
-- ListSample: a list's most recently added members first.
CREATE INDEX list_members_added ON list_members (account_id, list_id, added_at, contact_id);

-- Engagement events (SendGrid Event Webhook), the event_data columns of
-- docs/decisions.md §5.
CREATE TABLE events (
    account_id            bigint NOT NULL,
    seq                   bigint NOT NULL,  -- per-account insertion order (account_changes.event_seq)
    contact_id            text COLLATE "C",             -- NULL until a contact with that email exists
    email                 text COLLATE "C" NOT NULL,
    event_source          text COLLATE "C" NOT NULL DEFAULT 'mail',
    event_type            text COLLATE "C" NOT NULL,
    event_timestamp       bigint NOT NULL,  -- unix ms
    singlesend_id         text COLLATE "C",
    automation_id         text COLLATE "C",
    marketing_campaign_id text COLLATE "C",
    url                   text COLLATE "C",
    sg_event_id           text COLLATE "C",
    PRIMARY KEY (account_id, seq)
);
-- Idempotency: a redelivered sg_event_id is refused by the database
-- (INSERT … ON CONFLICT DO NOTHING), whichever server received it.
CREATE UNIQUE INDEX events_sg_event_id ON events (account_id, sg_event_id) WHERE sg_event_id IS NOT NULL;
-- AttachEvents: the events waiting for a contact with their email.
CREATE INDEX events_unattached ON events (account_id, email) WHERE contact_id IS NULL;
-- PruneEvents: whether any event is past the retention, in one probe.
CREATE INDEX events_time ON events (account_id, event_timestamp);

-- Finished contacts jobs (a pending job lives in its server's memory).
CREATE TABLE jobs (
    account_id  bigint NOT NULL,
    id          text COLLATE "C" NOT NULL,      -- uuid
    job_type    text COLLATE "C" NOT NULL,      -- 'upsert' | 'delete'
    status      text COLLATE "C" NOT NULL,      -- 'pending' | 'completed' | 'errored' | 'failed'
    requested   bigint NOT NULL DEFAULT 0,
    created     bigint NOT NULL DEFAULT 0,
    updated     bigint NOT NULL DEFAULT 0,
    deleted     bigint NOT NULL DEFAULT 0,
    errored     bigint NOT NULL DEFAULT 0,
    errors      jsonb NOT NULL DEFAULT '[]', -- array of {index, field, message}
    started_at  bigint NOT NULL,
    finished_at bigint,
    -- The job queue of servers sharing the database (segmentd.JobQueue):
    -- a pending job's number in its account and the server that owns it
    -- until lease_until.
    num         bigint,
    owner       text COLLATE "C",
    lease_until bigint,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX jobs_queue ON jobs (account_id, num) WHERE status = 'pending';

-- SendGrid segments.
CREATE TABLE segments (
    account_id        bigint NOT NULL,
    id                text COLLATE "C" NOT NULL,      -- uuid
    name              text COLLATE "C" NOT NULL,
    name_key          text COLLATE "C" NOT NULL,      -- lower(name): unique among live segments
    query_dsl         text COLLATE "C" NOT NULL,
    query_version     text COLLATE "C" NOT NULL,      -- '2' (Segments 2.0 SQL) or '' (v1 SGQL)
    parent_list_ids   jsonb NOT NULL DEFAULT '[]',
    created_at        bigint NOT NULL,
    updated_at        bigint NOT NULL,
    sample_updated_at bigint,
    last_refreshed_at bigint,
    deleted_at        bigint,             -- NULL while live
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX segments_live_name ON segments (account_id, name_key) WHERE deleted_at IS NULL;

-- Manual refreshes, kept to enforce SendGrid's refresh limits.
CREATE TABLE segment_refreshes (
    account_id bigint NOT NULL,
    segment_id text COLLATE "C" NOT NULL,
    at         bigint NOT NULL,
    time_zone  text COLLATE "C" NOT NULL DEFAULT '' -- the caller's IANA zone
);
CREATE INDEX segment_refreshes_at ON segment_refreshes (account_id, at);

-- Constant Contact V3 segments: per-account integer ids, criteria kept byte
-- for byte, a deleted one readable by id.
CREATE TABLE cc_segments (
    account_id bigint NOT NULL,
    segment_id bigint NOT NULL,    -- per account: 1, 2, 3, … never reused
    name       text COLLATE "C" NOT NULL,
    name_key   text COLLATE "C" NOT NULL,      -- lower(name): unique among live segments, the name order
    criteria   text COLLATE "C" NOT NULL,
    created_at bigint NOT NULL,
    edited_at  bigint NOT NULL,
    deleted_at bigint,             -- NULL while live
    PRIMARY KEY (account_id, segment_id)
);
-- The live-name index serves both the uniqueness check and sort_by=name;
-- the second serves sort_by=date (edited_at descending).
CREATE UNIQUE INDEX cc_segments_live_name ON cc_segments (account_id, name_key) WHERE deleted_at IS NULL;
CREATE INDEX cc_segments_live_edited ON cc_segments (account_id, edited_at, segment_id) WHERE deleted_at IS NULL;

-- Event Webhook verification keys, one per account: SendGrid's ECDSA P-256
-- public key as the base64 DER text SendGrid shows.
CREATE TABLE webhook_keys (
    account_id bigint PRIMARY KEY,
    public_key text COLLATE "C" NOT NULL,
    updated_at bigint NOT NULL
);

-- The change history (docs/snapshot.md): what was deleted, by the change
-- that deleted it: a contact ('contact', its id), a list ('list', its id),
-- or every contact of the account ('all', '').
CREATE TABLE deletions (
    account_id bigint NOT NULL,
    change_seq bigint NOT NULL,
    kind       text COLLATE "C" NOT NULL CHECK (kind IN ('contact', 'list', 'all')),
    id         text COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, change_seq, kind, id)
);

-- Events that waited for their contact and were attached to it
-- (AttachEvents) by change change_seq.
CREATE TABLE event_attachments (
    account_id bigint NOT NULL,
    change_seq bigint NOT NULL,
    event_seq  bigint NOT NULL,
    PRIMARY KEY (account_id, change_seq, event_seq)
);

-- Writes of field definitions and segments (either vendor's), so that a
-- reader of the history reloads them (Store.Changes: Catalog).
CREATE TABLE catalog_changes (
    account_id bigint NOT NULL,
    change_seq bigint NOT NULL,
    PRIMARY KEY (account_id, change_seq)
);

-- On Citus: the global tables on every node, the account tables by
-- account_id beside contacts. Sequential mode: the DDL of one transaction
-- goes over one connection per node.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        SET LOCAL citus.multi_shard_modify_mode = 'sequential';
        PERFORM create_reference_table('accounts');
        PERFORM create_reference_table('api_keys');
        PERFORM create_reference_table('store_identity');
        PERFORM create_distributed_table('contacts', 'account_id');
        PERFORM create_distributed_table(t, 'account_id', colocate_with => 'contacts')
        FROM unnest(ARRAY['account_changes', 'field_definitions', 'account_counters', 'lists',
            'contact_alternate_emails', 'list_members', 'events', 'jobs', 'segments',
            'segment_refreshes', 'cc_segments', 'webhook_keys', 'deletions', 'event_attachments', 'catalog_changes']) AS t;
    END IF;
END
$$;

ALTER TABLE api_keys ADD CONSTRAINT api_keys_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id);

INSERT INTO store_identity (id, store_id) VALUES (1, replace(gen_random_uuid()::text, '-', ''));
