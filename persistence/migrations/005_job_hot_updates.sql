-- Job updates without index churn.
--
-- The partial indexes of jobs referenced status and lease_until, which every start, lease
-- renewal and retry changes: no update of a job was HOT, so each wrote a new entry into every
-- index of jobs (and the unique and per-user indexes filled with entries for the old versions of
-- the same rows, which PostgreSQL then visits and cleans). Now no index refers to a column those
-- updates change: open jobs are found through created_at (never updated) under
-- finished_at IS NULL, unsettled ones through finished_at under settled = false (every terminal
-- status sets finished_at, and only then). Starts, renewals and retries are HOT updates;
-- completion and settling still write the indexes, once each. Free space on each page
-- (fillfactor) keeps the new row versions on their page.
DROP INDEX jobs_open;
DROP INDEX jobs_unsettled;
CREATE INDEX jobs_open ON jobs (created_at) WHERE finished_at IS NULL;
CREATE INDEX jobs_unsettled ON jobs (finished_at) WHERE NOT settled AND finished_at IS NOT NULL;
ALTER TABLE jobs SET (fillfactor = 75);
