-- segmentd's PostgreSQL schema, version 14: the membership history keeps
-- a contact id as 16 bytes instead of its 36 characters of text
-- (segmentd.HistoryContactKey): a UUID in its canonical lower-case form as
-- its bytes, any other id as a zero byte and its text (two zero bytes when
-- that would make 16). Every row is converted.

ALTER TABLE segment_history ALTER COLUMN contact_id TYPE bytea USING
    CASE
        WHEN contact_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            THEN decode(replace(contact_id, '-', ''), 'hex')
        WHEN octet_length(contact_id) = 15 THEN '\x0000'::bytea || convert_to(contact_id, 'UTF8')
        ELSE '\x00'::bytea || convert_to(contact_id, 'UTF8')
    END;
