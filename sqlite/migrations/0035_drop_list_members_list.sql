-- segmentd schema, version 35: list_members_list dropped (docs/sqlite.md,
-- "Keyed by list"). It kept a list's members by joining time for the
-- list's sample, which the membership engine now renders
-- (docs/decisions.md §19). The reads by list, a list's count and its
-- delete, seek the table's own key, which leads with the list since
-- version 34; every membership then costs one B-tree entry instead of
-- two. No row changes.
DROP INDEX list_members_list;
