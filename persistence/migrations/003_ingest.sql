-- Scheduler accounting ingest: sources (a directory of log files), the files already read, the
-- usage records they held (one row per job run, whatever file it came from) and the bad lines.

CREATE TABLE ingest_sources (
    id               uuid PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    dir              text NOT NULL,
    glob             text NOT NULL DEFAULT '*',
    format           text NOT NULL CHECK (format IN ('slurm-sacct', 'slurm-jobcomp', 'pbs')),
    cluster          text NOT NULL,
    interval_seconds int NOT NULL DEFAULT 30 CHECK (interval_seconds >= 1),
    timezone         text NOT NULL DEFAULT 'UTC',
    enabled          boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per file read. offset/lines say how far a growing file was consumed, prefix_sha256
-- is the checksum of those offset bytes (to tell growth from a rewrite), sha256 that of the
-- whole file when it was read (to recognise a renamed or copied file).
CREATE TABLE processed_files (
    source_id     uuid NOT NULL REFERENCES ingest_sources (id) ON DELETE CASCADE,
    path          text NOT NULL,
    size          bigint NOT NULL CHECK (size >= 0),
    mtime         timestamptz NOT NULL,
    sha256        bytea NOT NULL,
    prefix_sha256 bytea NOT NULL,
    "offset"      bigint NOT NULL DEFAULT 0 CHECK ("offset" >= 0),
    lines         int NOT NULL DEFAULT 0,
    columns       text[] NOT NULL DEFAULT '{}',
    gzip          boolean NOT NULL DEFAULT false,
    records       int NOT NULL DEFAULT 0,
    errors        int NOT NULL DEFAULT 0,
    status        text NOT NULL CHECK (status IN ('done', 'partial', 'failed')),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_id, path)
);
CREATE INDEX processed_files_sha ON processed_files (source_id, sha256);

-- A job run is stored once, keyed by accounting.Record.Key() (cluster|job id|submit time).
-- source_id is kept when a source is removed: usage already counted stays counted.
CREATE TABLE usage_records (
    id               bigserial PRIMARY KEY,
    key              text NOT NULL UNIQUE,
    cluster          text NOT NULL,
    job_id           text NOT NULL,
    user_name        text NOT NULL DEFAULT '',
    group_name       text NOT NULL DEFAULT '',
    account          text NOT NULL DEFAULT '',
    partition        text NOT NULL DEFAULT '',
    qos              text NOT NULL DEFAULT '',
    state            text NOT NULL DEFAULT '',
    exit_code        text NOT NULL DEFAULT '',
    nodes            int NOT NULL DEFAULT 0,
    cpus             int NOT NULL DEFAULT 0,
    gpus             int NOT NULL DEFAULT 0,
    elapsed_ms       bigint NOT NULL DEFAULT 0,
    submit_at        timestamptz,
    start_at         timestamptz,
    end_at           timestamptz,
    node_milli_hours bigint NOT NULL DEFAULT 0 CHECK (node_milli_hours >= 0),
    gpu_milli_hours  bigint NOT NULL DEFAULT 0 CHECK (gpu_milli_hours >= 0),
    source_id        uuid REFERENCES ingest_sources (id) ON DELETE SET NULL,
    file             text NOT NULL DEFAULT '',
    line             int NOT NULL DEFAULT 0,
    ingested_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_records_end ON usage_records (cluster, end_at);
CREATE INDEX usage_records_account ON usage_records (account, end_at);
CREATE INDEX usage_records_user ON usage_records (user_name, end_at);

CREATE TABLE ingest_errors (
    id         bigserial PRIMARY KEY,
    source_id  uuid NOT NULL REFERENCES ingest_sources (id) ON DELETE CASCADE,
    file       text NOT NULL,
    line       int NOT NULL DEFAULT 0,
    message    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_errors_source ON ingest_errors (source_id, created_at DESC, id DESC);
CREATE INDEX ingest_errors_file ON ingest_errors (source_id, file);
