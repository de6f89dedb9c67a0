-- Outgoing webhooks (package webhooks): integrators' endpoints, the events they hear of, and a
-- durable outbox of deliveries with every attempt.

-- An endpoint belongs to the user who registered it. The secret signs its deliveries (HMAC, as
-- Standard Webhooks asks): it must be readable here, and is never shown again by the API.
CREATE TABLE webhook_endpoints (
    id         uuid PRIMARY KEY,
    owner_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url        text NOT NULL,
    events     text[] NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_id, created_at);
-- Whether anyone listens for an event type, asked by the triggers below inside other
-- statements' transactions: an index lookup (events @> ARRAY[type]), never a sequential scan.
-- The job writes run with enable_seqscan off (persistence.genericKeyPlans): a sequential scan
-- here was then costed past jit_above_cost, and every finished job paid a JIT compilation
-- (~40 ms; BenchmarkJobs fell from 3,000 to 100 jobs/s).
CREATE INDEX webhook_endpoints_events ON webhook_endpoints USING gin (events);

-- Events: one row per thing that happened, its id the webhook-id receivers deduplicate by.
-- Rows come from the triggers below (in the very transaction that finished a job or recorded a
-- quota crossing: an event can be neither lost nor invented), from the low-balance sweep over
-- the ledger, or from Publish (payments). published_at is set once the event was fanned out to
-- deliveries; payload is then the exact signed body. A node that claimed an unpublished event
-- and died leaves a lease (locked_until) that runs out.
CREATE TABLE webhook_events (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    subject      text NOT NULL DEFAULT '', -- a job id, a transaction id, quota/period/metric/threshold
    threshold    bigint,                   -- wallet.low_balance: the threshold crossed
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    payload      bytea,
    published_at timestamptz,
    locked_until timestamptz
);
CREATE INDEX webhook_events_unpublished ON webhook_events (occurred_at) WHERE published_at IS NULL;
CREATE INDEX webhook_events_occurred ON webhook_events (occurred_at); -- pruning after the retention

-- One event on its way to one endpoint: at most one per (endpoint, event), however often the
-- event is published. Claimed with FOR UPDATE SKIP LOCKED and a lease (locked_until); every
-- outcome is fenced by the attempt number it was claimed with.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         text NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    deadline         timestamptz NOT NULL,
    last_http_status int NOT NULL DEFAULT 0,
    last_error       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    succeeded_at     timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id              bigserial PRIMARY KEY,
    delivery_id     uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         int NOT NULL,
    node            text NOT NULL DEFAULT '',
    http_status     int NOT NULL DEFAULT 0,
    error           text NOT NULL DEFAULT '',
    duration_ms     bigint NOT NULL DEFAULT 0,
    started_at      timestamptz NOT NULL,
    next_attempt_at timestamptz
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);

-- How far the low-balance sweep has read each wallet's ledger (its seq). The sweep reads the
-- entries after the mark up to the wallet's seq: ledger rows and the wallet's seq commit
-- together, so nothing is skipped however commits interleave. Existing wallets start at their
-- current seq (their past is not news).
CREATE TABLE webhook_wallet_marks (
    wallet_id uuid PRIMARY KEY,
    seq       bigint NOT NULL
);
INSERT INTO webhook_wallet_marks (wallet_id, seq) SELECT id, seq FROM wallets;

-- A job that reaches completed or failed records its event in the same transaction, whichever
-- path finished it (the runner, a retry's last failure, recovery after a node died), when an
-- endpoint listens for it. Errors here would fail the job's write: the insert cannot conflict.
CREATE FUNCTION webhook_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints WHERE events @> ARRAY['job.' || NEW.status]) THEN
        INSERT INTO webhook_events (id, type, subject)
        VALUES ('job.' || NEW.status || '.' || NEW.id::text, 'job.' || NEW.status, NEW.id::text)
        ON CONFLICT (id) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_webhook_event AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION webhook_job_event();

-- A quota threshold crossing, likewise.
CREATE FUNCTION webhook_quota_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ref text := NEW.quota_id::text || '/' || NEW.period_start::text || '/' || NEW.metric || '/' || NEW.threshold::text;
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints WHERE events @> ARRAY['quota.threshold_crossed']) THEN
        INSERT INTO webhook_events (id, type, subject, occurred_at)
        VALUES ('quota.threshold_crossed.' || ref || '/' || (extract(epoch FROM NEW.created_at) * 1000000)::bigint::text,
                'quota.threshold_crossed', ref, NEW.created_at)
        ON CONFLICT (id) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER quota_events_webhook_event AFTER INSERT ON quota_events FOR EACH ROW
    EXECUTE FUNCTION webhook_quota_event();
