-- segmentd schema, version 23: the attributes of a contact only Constant
-- Contact has (segmentd.CCDetails: job title, company, birthday,
-- anniversary, email consent, sources, the kinds of the phone and address
-- and the entries beyond the first, notes), one JSON object per contact
-- that has any, beside the contacts row rather than in it: SendGrid's
-- upserts, the bulk of the writes, never read or write them, and most
-- contacts have none (docs/constantcontact.md "Constant Contact-only
-- attributes").
CREATE TABLE contact_cc (
    account_id INTEGER NOT NULL,
    contact_id TEXT NOT NULL,
    details    TEXT NOT NULL,   -- segmentd.EncodeCCDetails
    PRIMARY KEY (account_id, contact_id)
) WITHOUT ROWID;
