-- Password-reset tokens: only the sha256 of a token is kept (as for refresh tokens); a token is
-- spent once (used_at) and is worth nothing after expires_at.
CREATE TABLE password_reset_tokens (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_reset_tokens_user ON password_reset_tokens (user_id, created_at DESC);

-- The mail outbox: a mail is written here (in the transaction of what caused it, where there is
-- one) and sent by a worker on any node, which claims due rows with FOR UPDATE SKIP LOCKED and
-- leases them (locked_until) while it talks to the SMTP server: a node that dies mid-send leaves
-- a lease that runs out, and another node sends the mail. A failed attempt is retried with
-- backoff (next_attempt_at). A mail with an expiry (a reset link) that was not sent by then is
-- expired rather than sent. The body of a sent or expired mail is erased: it may hold a link
-- whose token must not linger in the database.
CREATE TABLE mail_outbox (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL,
    recipient       text NOT NULL,
    lang            text NOT NULL DEFAULT 'en',
    subject         text NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed', 'expired')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    last_error      text NOT NULL DEFAULT '',
    expires_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE status = 'queued';
CREATE INDEX mail_outbox_recipient ON mail_outbox (lower(recipient), kind, created_at DESC);

-- Every attempt to send a mail, kept with its outcome.
CREATE TABLE mail_attempts (
    id          bigserial PRIMARY KEY,
    mail_id     uuid NOT NULL REFERENCES mail_outbox (id) ON DELETE CASCADE,
    attempt     int NOT NULL,
    node        text NOT NULL DEFAULT '',
    error       text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_attempts_mail ON mail_attempts (mail_id, attempt);
