-- Events whose email matched no contact when they arrived, by email, so that
-- a new contact's events are found (AttachEvents) without scanning the
-- account's events. Partial: attached events, nearly all of them, are not in
-- it, so it costs event ingestion almost nothing.
CREATE INDEX events_unattached ON events (account_id, email) WHERE contact_id IS NULL;
