-- Web Push (package push). A subscription is one device of a user: the push service's endpoint
-- and the keys the message is encrypted for. An endpoint names one device, so it is unique: a
-- device that subscribes again (another user signed in on it) moves to that user.
CREATE TABLE push_subscriptions (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL DEFAULT 'webpush',
    endpoint   text NOT NULL UNIQUE,
    p256dh     text NOT NULL,
    auth       text NOT NULL,
    lang       text NOT NULL DEFAULT 'zh-TW',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

-- A job's end waiting to be told: written by the database in the transaction that finishes the
-- job, and only for a user with a subscription, so a node that dies after the job's commit loses
-- no notice and jobs of users without one cost a single index probe. Workers on every node claim
-- due rows with FOR UPDATE SKIP LOCKED and a lease (locked_until); a sent or abandoned notice is
-- deleted.
CREATE TABLE push_notices (
    job_id          uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    status          text NOT NULL,
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_notices_due ON push_notices (next_attempt_at);

CREATE FUNCTION push_notice_job_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = NEW.user_id) THEN
        INSERT INTO push_notices (job_id, user_id, status) VALUES (NEW.id, NEW.user_id, NEW.status)
        ON CONFLICT (job_id) DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

-- Cancelled jobs are the person's own doing: no notice.
CREATE TRIGGER jobs_push_notice AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('completed', 'failed'))
    EXECUTE FUNCTION push_notice_job_finished();
