-- Compute accounting beyond ingest: which wallet pays for a job (group mappings), at what price
-- (charge rates), the aggregated charges posted to wallets, quotas and their threshold events,
-- cluster users, and the rollups that keep reports fast.

-- A rule maps usage to a wallet. It matches on any of user, account and group (at least one),
-- optionally on one cluster (''= every cluster). The most specific matching rule wins: a user
-- counts 4, an account 2, a group 1, a cluster breaks ties; so "group physics → P" with the
-- exception "group physics + user alice → A" sends alice's jobs to A and everyone else's to P.
-- A rule without a wallet is an exclusion: matching usage is tracked, never charged.
CREATE TABLE group_mappings (
    id         uuid PRIMARY KEY,
    cluster    text NOT NULL DEFAULT '',
    user_name  text NOT NULL DEFAULT '',
    account    text NOT NULL DEFAULT '',
    group_name text NOT NULL DEFAULT '',
    wallet_id  uuid REFERENCES wallets (id),
    note       text NOT NULL DEFAULT '',
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (user_name <> '' OR account <> '' OR group_name <> ''),
    UNIQUE (cluster, user_name, account, group_name)
);

-- The columns of a source's header-less `sacct -n -P` files (empty: the files have a header).
ALTER TABLE ingest_sources ADD COLUMN columns text[] NOT NULL DEFAULT '{}';

-- Points per CPU node-hour and per GPU core-hour, in thousandths of a point, for a cluster and
-- partition ('' = any), from effective_from on. A job is priced by the most specific rate in
-- effect when it ended; no rate = 0 (usage tracked, not charged).
CREATE TABLE charge_rates (
    id                     uuid PRIMARY KEY,
    cluster                text NOT NULL DEFAULT '',
    partition              text NOT NULL DEFAULT '',
    node_hour_millipoints  bigint NOT NULL DEFAULT 0 CHECK (node_hour_millipoints >= 0),
    gpu_hour_millipoints   bigint NOT NULL DEFAULT 0 CHECK (gpu_hour_millipoints >= 0),
    effective_from         timestamptz NOT NULL,
    created_by             uuid,
    created_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cluster, partition, effective_from)
);

-- Which wallet a job was charged to (NULL = unassigned, or excluded when mapping_id is set), by
-- which rule, and its price in millionths of a point (milli-hours × millipoints).
ALTER TABLE usage_records
    ADD COLUMN wallet_id uuid,
    ADD COLUMN mapping_id uuid,
    ADD COLUMN charge_micropoints bigint NOT NULL DEFAULT 0 CHECK (charge_micropoints >= 0),
    ADD COLUMN charged boolean NOT NULL DEFAULT false;
CREATE INDEX usage_records_unassigned ON usage_records (cluster, user_name) WHERE mapping_id IS NULL;

-- Ingest speed: every btree on usage_records costs about 3 µs per stored job, and the foreign
-- key on source_id another 3. Reports read the rollups; a filtered report scans a time range,
-- which a BRIN index on the job's time serves (jobs arrive roughly in time order). A removed
-- source's id stays on its records as history.
DROP INDEX usage_records_end;
DROP INDEX usage_records_account;
DROP INDEX usage_records_user;
CREATE INDEX usage_records_at ON usage_records USING brin ((COALESCE(end_at, start_at, ingested_at)));
ALTER TABLE usage_records DROP CONSTRAINT usage_records_source_id_fkey;
-- The natural key is the primary key: no surrogate id (another btree and a sequence per job).
ALTER TABLE usage_records DROP COLUMN id;
ALTER TABLE usage_records DROP CONSTRAINT usage_records_key_key, ADD PRIMARY KEY (key);

-- One charge per wallet per stored file (or per late mapping): the sum of its jobs' prices,
-- rounded half up to whole points. The charger posts it to the wallet grain with the
-- idempotency key usage-charge:<id>; charged_points < points when the wallet could not pay all
-- (balances never go negative): the rest is unpaid.
CREATE TABLE usage_charges (
    id               bigserial PRIMARY KEY,
    wallet_id        uuid NOT NULL REFERENCES wallets (id),
    points           bigint NOT NULL CHECK (points > 0),
    records          int NOT NULL,
    node_milli_hours bigint NOT NULL DEFAULT 0,
    gpu_milli_hours  bigint NOT NULL DEFAULT 0,
    origin           text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'charged', 'unpaid')),
    charged_points   bigint NOT NULL DEFAULT 0 CHECK (charged_points >= 0 AND charged_points <= points),
    transaction_id   uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    settled_at       timestamptz
);
CREATE INDEX usage_charges_pending ON usage_charges (id) WHERE status = 'pending';
CREATE INDEX usage_charges_wallet ON usage_charges (wallet_id, created_at DESC);

-- A quota per wallet per period, in node-hours and/or GPU core-hours (milli-hours here).
CREATE TABLE quotas (
    id               uuid PRIMARY KEY,
    wallet_id        uuid NOT NULL REFERENCES wallets (id) ON DELETE CASCADE,
    period           text NOT NULL CHECK (period IN ('month', 'quarter', 'year', 'total')),
    node_milli_hours bigint CHECK (node_milli_hours > 0),
    gpu_milli_hours  bigint CHECK (gpu_milli_hours > 0),
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (node_milli_hours IS NOT NULL OR gpu_milli_hours IS NOT NULL),
    UNIQUE (wallet_id, period)
);

-- A threshold (80 or 100 percent) crossed once per quota, period and metric. Nodes publish each
-- to the wallet's event stream once (published), whatever recorded it (a node or the CLI).
CREATE TABLE quota_events (
    quota_id     uuid NOT NULL REFERENCES quotas (id) ON DELETE CASCADE,
    period_start date NOT NULL,
    metric       text NOT NULL CHECK (metric IN ('node_hours', 'gpu_core_hours')),
    threshold    int NOT NULL CHECK (threshold IN (80, 100)),
    used         bigint NOT NULL,
    quota        bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (quota_id, period_start, metric, threshold)
);
CREATE INDEX quota_events_unpublished ON quota_events (created_at) WHERE NOT published;

-- Login names seen in the logs, per cluster; an admin may link one to a platform user.
CREATE TABLE cluster_users (
    cluster    text NOT NULL,
    login      text NOT NULL,
    user_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, login)
);
CREATE INDEX cluster_users_user ON cluster_users (user_id) WHERE user_id IS NOT NULL;

-- Sums of usage by one dimension (all, wallet, user, group, account, partition, cluster) per
-- UTC day ('d') and month ('m') of the jobs' end, kept current by the statement that stores the
-- records. Reports read these, never the records, unless they filter on a second dimension.
-- key '' of dimension wallet is the unassigned bucket.
CREATE TABLE usage_rollups (
    dim                text NOT NULL,
    grain              "char" NOT NULL,
    bucket             date NOT NULL,
    key                text NOT NULL,
    jobs               bigint NOT NULL DEFAULT 0,
    gpu_jobs           bigint NOT NULL DEFAULT 0,
    node_milli_hours   bigint NOT NULL DEFAULT 0,
    gpu_milli_hours    bigint NOT NULL DEFAULT 0,
    charge_micropoints bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, grain, bucket, key)
);
-- Rows are updated in place by every file of their day or month: leave room for the new
-- version on its page (a HOT update, no index write).
ALTER TABLE usage_rollups SET (fillfactor = 70);
