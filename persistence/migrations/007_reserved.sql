-- Placeholder on branch sec/loginlimit only, so that 008 loads (tern wants no gaps).
-- Drop this file at merge: another branch of issue 9 owns migration 007.
SELECT 1;
