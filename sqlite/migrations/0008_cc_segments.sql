-- Placeholder for schema version 8, which branch cc-face adds under this
-- same file name (Constant Contact segments): when the branches merge, keep
-- cc-face's file. Migrations must be numbered without gaps, and version 9
-- (the change history) is this branch's.
SELECT 1;
