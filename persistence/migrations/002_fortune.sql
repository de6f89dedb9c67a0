-- Fortune poems, draws and paid interpretation jobs.

CREATE TABLE poem_sets (
    slug        text PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    language    text NOT NULL DEFAULT 'zh-TW',
    bundled     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE poems (
    set_slug  text NOT NULL REFERENCES poem_sets (slug) ON DELETE CASCADE,
    number    int NOT NULL CHECK (number > 0),
    title     text NOT NULL,
    lines     text[] NOT NULL CHECK (cardinality(lines) = 4),
    level     text NOT NULL,
    meanings  jsonb NOT NULL,
    story     text NOT NULL DEFAULT '',
    uncertain boolean NOT NULL DEFAULT false,
    note      text NOT NULL DEFAULT '',
    PRIMARY KEY (set_slug, number)
);

CREATE TABLE draws (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    set_slug     text NOT NULL,
    number       int NOT NULL,
    confirmed    boolean NOT NULL DEFAULT false, -- a 聖筊 confirmed it
    throws       jsonb NOT NULL DEFAULT '[]',    -- the attempts, for animation and history
    deleted_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX draws_user ON draws (user_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- A job is owned by its grain; the lease columns fence a stale grain activation the way the
-- wallet's seq fences a stale wallet grain: every transition is a compare-and-set on epoch.
CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id),
    wallet_id       uuid NOT NULL REFERENCES wallets (id),
    type            text NOT NULL CHECK (type IN ('interpretation')),
    status          text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    idempotency_key text NOT NULL,
    request_hash    bytea NOT NULL,
    params          jsonb NOT NULL,          -- set, number, draw_id, question, topic, context, language
    price           bigint NOT NULL CHECK (price >= 0),
    hold_id         uuid,
    -- settled: the hold was captured (completed) or released (failed, cancelled).
    settled         boolean NOT NULL DEFAULT false,
    settlement      text NOT NULL DEFAULT '' CHECK (settlement IN ('', 'captured', 'released', 'expired')),
    attempts        int NOT NULL DEFAULT 0,
    max_attempts    int NOT NULL DEFAULT 3,
    next_attempt_at timestamptz,
    error_code      text NOT NULL DEFAULT '',
    error_detail    text NOT NULL DEFAULT '',
    epoch           bigint NOT NULL DEFAULT 0,
    owner           text NOT NULL DEFAULT '',
    lease_until     timestamptz,
    expire_at       timestamptz NOT NULL,   -- the job is failed if not finished by then
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX jobs_user ON jobs (user_id, created_at DESC, id DESC);
CREATE INDEX jobs_open ON jobs (lease_until) WHERE status IN ('pending', 'running');
CREATE INDEX jobs_unsettled ON jobs (finished_at) WHERE NOT settled AND status IN ('completed', 'failed', 'cancelled');

CREATE TABLE job_events (
    job_id     uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq        int NOT NULL,
    status     text NOT NULL,
    detail     text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE job_results (
    job_id          uuid PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    result          jsonb NOT NULL,
    model           text NOT NULL DEFAULT '',
    retention_until timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_results_retention ON job_results (retention_until);
