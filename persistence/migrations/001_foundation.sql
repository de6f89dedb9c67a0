-- Users, wallets, the ledger, refresh tokens and the audit log.
-- The constraints here are the last line of defence for the wallet invariants.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'operator', 'service', 'user')),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE wallets (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL DEFAULT 'personal' CHECK (kind IN ('personal', 'shared')),
    name        text NOT NULL DEFAULT '',
    owner_id    uuid REFERENCES users (id),
    balance     bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    held        bigint NOT NULL DEFAULT 0 CHECK (held >= 0 AND held <= balance),
    -- seq is the sequence number of the last ledger entry: the fence every writer compares and sets.
    seq         bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Every commit rewrites a wallet's snapshot row: leave room in each page so that the new row
-- version stays on its page (a HOT update, no index writes).
ALTER TABLE wallets SET (fillfactor = 50);
CREATE UNIQUE INDEX wallets_personal_owner ON wallets (owner_id) WHERE kind = 'personal';

CREATE TABLE wallet_members (
    wallet_id  uuid NOT NULL REFERENCES wallets (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'manager')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (wallet_id, user_id)
);
CREATE INDEX wallet_members_user ON wallet_members (user_id);

-- The ledger: append-only. balance_delta sums to the wallet's balance, held_delta to its holds.
-- No foreign key on wallet_id: its per-row check would lock the wallet row that the same
-- commit statement is updating, and cost more than the insert itself. The commit statement
-- inserts entries only for wallets whose snapshot row it has just updated (see
-- persistence/wallets.go), so an entry can never name a missing wallet; wallets are never deleted.
CREATE TABLE transactions (
    id              uuid PRIMARY KEY,
    wallet_id       uuid NOT NULL,
    seq             bigint NOT NULL CHECK (seq > 0),
    type            text NOT NULL CHECK (type IN ('deposit', 'spend', 'refund', 'hold', 'capture', 'release', 'adjust')),
    status          text NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    amount          bigint NOT NULL CHECK (amount >= 0),
    balance_delta   bigint NOT NULL,
    held_delta      bigint NOT NULL,
    balance_after   bigint NOT NULL CHECK (balance_after >= 0),
    held_after      bigint NOT NULL CHECK (held_after >= 0),
    reference_id    text NOT NULL DEFAULT '',
    idempotency_key text NOT NULL,
    request_hash    bytea NOT NULL,
    hold_id         uuid,
    refund_of       uuid,
    expires_at      timestamptz,
    reason          text NOT NULL DEFAULT '',
    actor_id        uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (wallet_id, seq),
    UNIQUE (wallet_id, idempotency_key)
);
CREATE INDEX transactions_created ON transactions (created_at DESC, id DESC);
CREATE INDEX transactions_hold ON transactions (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX transactions_refund_of ON transactions (refund_of) WHERE refund_of IS NOT NULL;
CREATE INDEX transactions_open_holds ON transactions (expires_at) WHERE type = 'hold';

CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE audit_logs (
    id          bigserial PRIMARY KEY,
    actor_id    uuid,
    action      text NOT NULL,
    target_type text NOT NULL DEFAULT '',
    target_id   text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}',
    ip          text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_created ON audit_logs (created_at DESC, id DESC);
CREATE INDEX audit_logs_actor ON audit_logs (actor_id, created_at DESC);
CREATE INDEX audit_logs_action ON audit_logs (action, created_at DESC);

-- The audit log as read by admins: the rows above, and every money movement straight from the
-- ledger, which is itself append-only and records who moved what, when and why. Money is
-- therefore audited without writing each movement twice.
CREATE VIEW audit_events AS
    SELECT 'a' || id::text AS id, actor_id, action, target_type, target_id, detail, ip, created_at
    FROM audit_logs
    UNION ALL
    SELECT 't' || id::text, actor_id, 'wallet.' || type, 'wallet', wallet_id::text,
           jsonb_build_object('transaction_id', id, 'seq', seq, 'amount', amount,
                              'balance_delta', balance_delta, 'held_delta', held_delta,
                              'reference_id', reference_id, 'reason', reason, 'status', status),
           '', created_at
    FROM transactions;
