-- Account lifecycle (issue 12): a profile (display name, language) and deletion; runtime
-- configuration.

-- A deleted user keeps its row (the ledger, the jobs and the audit log point at its id), with
-- its personal data removed: email deleted-<id>@invalid, no password, no display name.
ALTER TABLE users
    ADD COLUMN display_name text NOT NULL DEFAULT '' CHECK (char_length(display_name) <= 64),
    -- NULL until the person chooses (at registration, from the page, or in the profile): the
    -- web app then keeps the browser's language instead of imposing one.
    ADD COLUMN language     text CHECK (language IN ('zh-TW', 'en')),
    ADD COLUMN deleted_at   timestamptz;
ALTER TABLE users DROP CONSTRAINT users_status_check;
ALTER TABLE users ADD CONSTRAINT users_status_check CHECK (status IN ('active', 'suspended', 'deleted'));
ALTER TABLE users ADD CONSTRAINT users_deleted_check CHECK ((status = 'deleted') = (deleted_at IS NOT NULL));

-- Settings operators change without a restart: the value stored here overrides the node's flag.
-- Every change is sent to every node by NOTIFY dw_settings in its own transaction.
CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by uuid
);

-- The retention sweeps (settings retention_*) find old rows through these.
CREATE INDEX ingest_errors_created ON ingest_errors (created_at);
CREATE INDEX mail_outbox_created ON mail_outbox (created_at) WHERE status <> 'queued';
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
CREATE INDEX password_reset_tokens_expires ON password_reset_tokens (expires_at);
-- A deletion renames the audit rows about the user's old address: found through this.
CREATE INDEX audit_logs_email_target ON audit_logs (target_id) WHERE target_type = 'email';
-- The users deleted lately, whose late jobs and draws a sweep erases (persistence.SweepDeleted).
CREATE INDEX users_deleted ON users (deleted_at) WHERE status = 'deleted';
