-- Payments: a person buys a package of points at a provider's hosted checkout. A payment is
-- written pending before the provider is asked; each later change is one guarded UPDATE
-- (WHERE status IN (...)), so two nodes handling the same notification change it once. The
-- points are credited by a ledger deposit keyed "payment:<id>"; transaction_id records it, and a
-- succeeded payment without one (a node stopped between the two steps) is credited again by
-- the reconciler, which the key makes harmless.
CREATE TABLE payments (
    id                    uuid PRIMARY KEY,
    user_id               uuid NOT NULL REFERENCES users (id),
    wallet_id             uuid NOT NULL REFERENCES wallets (id),
    provider              text NOT NULL,
    package_id            text NOT NULL,
    points                bigint NOT NULL CHECK (points > 0),
    currency              text NOT NULL,
    price_minor           bigint NOT NULL CHECK (price_minor > 0),
    status                text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded', 'flagged')),
    provider_ref          text,
    reason                text NOT NULL DEFAULT '',
    transaction_id        uuid,
    refund_transaction_id uuid,
    -- The client's Idempotency-Key of the checkout, and what the checkout answered (a replay
    -- of the key answers it again).
    idempotency_key       text,
    redirect_url          text NOT NULL DEFAULT '',
    method                text NOT NULL DEFAULT '',
    fields                jsonb,
    expires_at            timestamptz,
    refund_started_at     timestamptz, -- a refund claimed by one caller
    checked_at            timestamptz, -- when the reconciler last asked the provider
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    paid_at               timestamptz,
    refunded_at           timestamptz,
    UNIQUE (provider, provider_ref),
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX payments_created ON payments (created_at DESC, id DESC);
CREATE INDEX payments_user ON payments (user_id, created_at DESC, id DESC);
CREATE INDEX payments_provider ON payments (provider, created_at);
CREATE INDEX payments_pending ON payments (created_at) WHERE status = 'pending';
CREATE INDEX payments_uncredited ON payments (updated_at) WHERE status = 'succeeded' AND transaction_id IS NULL;

-- Every verified notification event, by the provider's event id: duplicates are counted here
-- (and not applied twice to a settled payment).
CREATE TABLE payment_events (
    provider   text NOT NULL,
    event_id   text NOT NULL,
    payment_id uuid,
    outcome    text NOT NULL,
    deliveries int NOT NULL DEFAULT 1,
    first_at   timestamptz NOT NULL DEFAULT now(),
    last_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);

-- The sandbox provider's own records (payments/sandbox): what a checkout was for and where it
-- stands at the "provider", so that any node serves its page and answers lookups.
CREATE TABLE payment_sandbox (
    ref          text PRIMARY KEY,
    payment_id   uuid NOT NULL UNIQUE,
    currency     text NOT NULL,
    amount_minor bigint NOT NULL,
    description  text NOT NULL DEFAULT '',
    language     text NOT NULL DEFAULT 'zh-TW',
    success_url  text NOT NULL,
    cancel_url   text NOT NULL,
    notify_url   text NOT NULL,
    outcome      text NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'paid', 'failed', 'refunded')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The sandbox's signing key: made by the first node that needs it, read by every other, so that
-- a notification signed on one node verifies on all.
CREATE TABLE payment_sandbox_key (
    id     int PRIMARY KEY CHECK (id = 1),
    secret bytea NOT NULL
);
