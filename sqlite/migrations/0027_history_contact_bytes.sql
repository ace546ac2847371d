-- segmentd schema, version 27: the membership history keeps a contact id
-- as 16 bytes instead of its 36 characters of text
-- (segmentd.HistoryContactKey): a UUID in its canonical lower-case form
-- as its bytes, any other id as a zero byte and its text (two zero bytes
-- when that would make 16). The table is rebuilt with the column as a
-- BLOB and every row converted.

CREATE TABLE segment_history_new (
    account_id  INTEGER NOT NULL,
    segment_key INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    contact_id  BLOB NOT NULL,
    email       TEXT NOT NULL,
    kind        INTEGER NOT NULL,
    PRIMARY KEY (account_id, segment_key, at, seq)
) WITHOUT ROWID;

INSERT INTO segment_history_new (account_id, segment_key, at, seq, contact_id, email, kind)
SELECT account_id, segment_key, at, seq,
    CASE
        WHEN typeof(contact_id) = 'text' AND contact_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
            THEN unhex(replace(contact_id, '-', ''))
        WHEN length(CAST(contact_id AS BLOB)) = 15 THEN unhex('0000' || hex(contact_id))
        ELSE unhex('00' || hex(contact_id))
    END,
    email, kind
FROM segment_history;

DROP TABLE segment_history;
ALTER TABLE segment_history_new RENAME TO segment_history;
CREATE INDEX segment_history_contact ON segment_history (account_id, contact_id, segment_key, at);
