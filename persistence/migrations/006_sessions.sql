-- Sessions that end everywhere at once.
--
-- Every access token carries its user's token_version (claim "ver") and its session, the
-- refresh-token family of its login (claim "sid"). A node accepts a token only while the
-- version is the user's current one and the family is not revoked. Bumping token_version
-- (password change or reset, suspension, role change) ends every access token of the user;
-- revoking a family (logout, refresh-token reuse) ends that session's. Each such write also
-- sends NOTIFY dw_sessions with the user id, in its own transaction, so every node drops what
-- it cached about the user as soon as the change commits (see persistence/sessions.go).
ALTER TABLE users ADD COLUMN token_version bigint NOT NULL DEFAULT 0;
