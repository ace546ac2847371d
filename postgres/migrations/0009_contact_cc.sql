-- segmentd's PostgreSQL schema, version 9: the attributes of a contact
-- only Constant Contact has (segmentd.CCDetails), one JSON object per
-- contact that has any, beside the contacts row (SendGrid's upserts never
-- read or write them); distributed by account, colocated with contacts.
CREATE TABLE contact_cc (
    account_id bigint NOT NULL,
    contact_id text COLLATE "C" NOT NULL,
    details    text COLLATE "C" NOT NULL,   -- segmentd.EncodeCCDetails
    PRIMARY KEY (account_id, contact_id)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        PERFORM create_distributed_table('contact_cc', 'account_id', colocate_with => 'contacts');
    END IF;
END
$$;
