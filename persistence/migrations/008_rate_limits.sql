-- Rate limits shared by the nodes of a cluster: the count of one key's fixed window (a key is
-- "class:user:<id>" or "class:ip:<address>"). Nodes lease tokens from it in chunks
-- (ratelimit.Grant: an eighth of what remains, at least one), so a row is written about once
-- per lease, not per request.
--
-- UNLOGGED: counters of a minute are not worth a WAL record; a crash of the database empties
-- the table, which only restarts the current windows.
CREATE UNLOGGED TABLE rate_limit_windows (
    key          text        NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    used         integer     NOT NULL, -- tokens leased to nodes, never above the limit
    last_grant   integer     NOT NULL, -- the tokens of the last lease (what RETURNING answers)
    refused      boolean     NOT NULL DEFAULT false, -- a request of the window was refused
    PRIMARY KEY (key, window_start)
) WITH (fillfactor = 70); -- room for HOT updates

CREATE INDEX rate_limit_windows_end ON rate_limit_windows (window_end);
