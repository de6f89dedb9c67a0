-- Usage in exact integer units. A job's usage was stored in milli-hours (3.6 s), each job
-- rounded before summing, so sums drifted from the true total and a one-second job of one node
-- counted 0. From here on usage is node-seconds (CPU jobs: nodes × elapsed seconds) and
-- GPU-seconds (GPU jobs: GPUs × elapsed seconds), summed as they are; hours are rounded only
-- where shown. A job's price is exact too, in price units of 1/3,600,000 point (node-seconds ×
-- millipoints per node-hour); a charge rounds the sum of its jobs' prices once.

-- Records kept what is needed: nodes, gpus and elapsed_ms. Every format read prints whole
-- seconds, so elapsed_ms / 1000 is exact (a fraction of a second would be dropped, as the
-- parsers now do). A job is a GPU job when gpus > 0, as accounting.Record.IsGPU says.
ALTER TABLE usage_records
    ADD COLUMN node_seconds bigint NOT NULL DEFAULT 0 CHECK (node_seconds >= 0),
    ADD COLUMN gpu_seconds  bigint NOT NULL DEFAULT 0 CHECK (gpu_seconds >= 0),
    ADD COLUMN charge_units bigint NOT NULL DEFAULT 0 CHECK (charge_units >= 0);

-- The price: a stored job's rate is read back from its old price, which was exactly milli-hours
-- × millipoints (a job is CPU or GPU, never both, so one of the two milli-hour figures is 0),
-- and applied to the exact seconds. A job whose milli-hours were 0 (under 1.8 unit-seconds) was
-- priced 0 and stays 0: its rate cannot be read back, and it was charged nothing.
UPDATE usage_records r
SET node_seconds = CASE WHEN r.gpus > 0 OR r.nodes <= 0 THEN 0
        ELSE LEAST(r.nodes::numeric * (GREATEST(r.elapsed_ms, 0) / 1000), 9223372036854775807)::bigint END,
    gpu_seconds = CASE WHEN r.gpus <= 0 THEN 0
        ELSE LEAST(r.gpus::numeric * (GREATEST(r.elapsed_ms, 0) / 1000), 9223372036854775807)::bigint END,
    charge_units = CASE WHEN r.node_milli_hours + r.gpu_milli_hours = 0 THEN 0
        ELSE LEAST((CASE WHEN r.gpus > 0 THEN r.gpus ELSE GREATEST(r.nodes, 0) END)::numeric
            * (GREATEST(r.elapsed_ms, 0) / 1000)
            * (r.charge_micropoints / (r.node_milli_hours + r.gpu_milli_hours)), 9223372036854775807)::bigint END
WHERE r.elapsed_ms >= 1000;

ALTER TABLE usage_records
    DROP COLUMN node_milli_hours,
    DROP COLUMN gpu_milli_hours,
    DROP COLUMN charge_micropoints;

-- The rollups, summed again from the records, every dimension and grain.
ALTER TABLE usage_rollups
    ADD COLUMN node_seconds bigint NOT NULL DEFAULT 0,
    ADD COLUMN gpu_seconds  bigint NOT NULL DEFAULT 0,
    ADD COLUMN charge_units bigint NOT NULL DEFAULT 0,
    DROP COLUMN node_milli_hours,
    DROP COLUMN gpu_milli_hours,
    DROP COLUMN charge_micropoints;
DELETE FROM usage_rollups;
INSERT INTO usage_rollups (dim, grain, bucket, key, jobs, gpu_jobs, node_seconds, gpu_seconds, charge_units)
SELECT d.dim, b.grain, b.bucket, d.key, count(*), count(*) FILTER (WHERE s.gpus > 0), sum(s.node_seconds),
    sum(s.gpu_seconds), sum(s.charge_units)
FROM (SELECT *, COALESCE(end_at, start_at, ingested_at) AS at FROM usage_records) s,
    LATERAL (VALUES ('all', ''),
        ('wallet', CASE WHEN s.wallet_id IS NOT NULL THEN s.wallet_id::text WHEN s.mapping_id IS NOT NULL THEN 'excluded' ELSE '' END),
        ('user', s.user_name), ('group', s.group_name), ('account', s.account), ('partition', s.partition),
        ('cluster', s.cluster)) d (dim, key),
    LATERAL (VALUES ('d'::"char", (s.at AT TIME ZONE 'UTC')::date),
        ('m'::"char", date_trunc('month', s.at AT TIME ZONE 'UTC')::date),
        ('y'::"char", date_trunc('year', s.at AT TIME ZONE 'UTC')::date)) b (grain, bucket)
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;

-- Charges: the exact seconds of the jobs a charge covers. A charge made before this migration
-- is not linked to its jobs, so its exact seconds are unknown (NULL): its milli-hours stay as
-- they were, for showing. Charges made from now on keep seconds only (milli-hours NULL).
ALTER TABLE usage_charges
    ADD COLUMN node_seconds bigint,
    ADD COLUMN gpu_seconds  bigint,
    ALTER COLUMN node_milli_hours DROP NOT NULL,
    ALTER COLUMN node_milli_hours DROP DEFAULT,
    ALTER COLUMN gpu_milli_hours DROP NOT NULL,
    ALTER COLUMN gpu_milli_hours DROP DEFAULT;

-- Quotas keep their limits in milli-hours: a limit is given in hours with at most three
-- decimals, so milli-hours hold it exactly, where seconds would not (0.001 h = 3.6 s). Usage is
-- compared with a limit exactly: seconds × 1000 against milli-hours × 3600.
-- A threshold crossing records the exact usage that crossed it (used_seconds; NULL for
-- crossings recorded before, whose used stays the milli-hours it was).
ALTER TABLE quota_events ADD COLUMN used_seconds bigint;
