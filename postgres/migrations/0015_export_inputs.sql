-- segmentd's PostgreSQL schema, version 15: a pending export's input
-- (docs/postgres.md, "Jobs"). The server that accepts a contact export
-- stores its frozen selection (the selected contacts' ids and the lists
-- and segments each was in) and its file format in the export's row, in
-- the statement that stores the export; a server that takes the export
-- over when its writer stopped writes it from there, so an accepted
-- export survives the server that accepted it. The input is dropped (set
-- NULL) when the export finishes. exports is distributed by account_id
-- already; a column needs nothing more.
ALTER TABLE exports ADD COLUMN input bytea;
