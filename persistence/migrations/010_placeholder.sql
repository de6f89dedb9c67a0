-- Placeholder for migration 010, which another branch adds; dropped at merge.
SELECT 1;
