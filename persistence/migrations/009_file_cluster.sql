-- The source's configured cluster is authoritative: a usage record's cluster (and so its key,
-- cluster|job id|submit) is the cluster of the source that read it, whatever the file says.
-- The cluster name the file printed (sacct's Cluster column, jobcomp's Cluster=) is kept in
-- file_cluster: '' when the file printed none (PBS never does), and for the rows stored before
-- this migration that it does not move (what their file printed was not kept).
ALTER TABLE usage_records ADD COLUMN file_cluster text NOT NULL DEFAULT '';

-- Per file read, the records whose file named another cluster than the source's (shown with
-- the source's files and counted by every scan). Files read before count 0.
ALTER TABLE processed_files ADD COLUMN cluster_mismatches int NOT NULL DEFAULT 0;

-- Rows stored before, under the file's cluster where it differed from their source's, move to
-- their source's cluster: their key is rewritten as the new rule would have made it, so that a
-- file read again (a rotated or gzipped copy) finds them and stores nothing twice. The old
-- cluster goes to file_cluster. A row whose new key is taken (the same job stored already
-- through a source of that cluster), the second of two rows that would share one key, and a
-- row whose source was removed stay as they were. Wallet, mapping and price stay as they were
-- too (no charge changes silently): a mapping added later for the source's cluster picks up
-- those still unassigned, as it does any unassigned job.
WITH candidates AS (
    SELECT DISTINCT ON (new_key) r.key AS old_key, r.cluster AS old_cluster, s.cluster AS new_cluster, new_key
    FROM usage_records r
        JOIN ingest_sources s ON s.id = r.source_id,
        LATERAL (SELECT s.cluster || substr(r.key, length(r.cluster) + 1) AS new_key) k
    WHERE r.cluster <> s.cluster AND left(r.key, length(r.cluster) + 1) = r.cluster || '|'
    ORDER BY new_key, r.ingested_at, r.key
)
UPDATE usage_records r
SET key = c.new_key, cluster = c.new_cluster, file_cluster = c.old_cluster
FROM candidates c
WHERE r.key = c.old_key
    AND NOT EXISTS (SELECT 1 FROM usage_records o WHERE o.key = c.new_key);

-- The logins of the moved jobs are users of the source's cluster.
INSERT INTO cluster_users (cluster, login, first_seen)
SELECT cluster, user_name, min(ingested_at) FROM usage_records
WHERE file_cluster <> '' AND user_name <> ''
GROUP BY 1, 2 ORDER BY 1, 2
ON CONFLICT DO NOTHING;

-- The cluster dimension of the rollups, summed again from the records (the other dimensions do
-- not depend on the cluster).
DELETE FROM usage_rollups WHERE dim = 'cluster';
INSERT INTO usage_rollups (dim, grain, bucket, key, jobs, gpu_jobs, node_milli_hours, gpu_milli_hours, charge_micropoints)
SELECT 'cluster', b.grain, b.bucket, s.cluster, count(*), count(*) FILTER (WHERE s.gpus > 0), sum(s.node_milli_hours),
    sum(s.gpu_milli_hours), sum(s.charge_micropoints)
FROM (SELECT *, COALESCE(end_at, start_at, ingested_at) AS at FROM usage_records) s,
    LATERAL (VALUES ('d'::"char", (s.at AT TIME ZONE 'UTC')::date),
        ('m'::"char", date_trunc('month', s.at AT TIME ZONE 'UTC')::date),
        ('y'::"char", date_trunc('year', s.at AT TIME ZONE 'UTC')::date)) b (grain, bucket)
GROUP BY 2, 3, 4 ORDER BY 2, 3, 4;
