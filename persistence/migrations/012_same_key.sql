-- One answer for the same input (accounting.Wins): a job key that arrives with other content
-- keeps the record that wins under the same-key rule — the later end, then the later start,
-- then the greater content hash — whatever order files, scans and concurrent stores bring it
-- in. The stored record keeps what the rule compares: end_at, start_at and content_hash
-- (accounting.Record.ContentHash, SHA-256 of the stored fields). Records stored before this
-- migration have an empty hash, which every hash beats: a record with the same times that
-- arrives later replaces them (with the same content, nothing changes but the hash).
ALTER TABLE usage_records ADD COLUMN content_hash bytea NOT NULL DEFAULT ''::bytea;

-- A replaced record's usage is corrected by a correcting charge (more) or a refund (less):
-- a charge of negative points, posted as a credit to the wallet. charged_points is what moved,
-- at most the charge's points either way.
ALTER TABLE usage_charges
    DROP CONSTRAINT usage_charges_points_check,
    DROP CONSTRAINT usage_charges_check,
    ADD CONSTRAINT usage_charges_points_check CHECK (points <> 0),
    ADD CONSTRAINT usage_charges_charged_check CHECK (charged_points >= 0 AND charged_points <= abs(points));

-- A correcting charge is keyed by the replacements it corrects (SHA-256 of the wallet and each
-- record's key, old and new content hash): the same correction is stored once.
ALTER TABLE usage_charges ADD COLUMN correction_key text;
CREATE UNIQUE INDEX usage_charges_correction ON usage_charges (correction_key) WHERE correction_key IS NOT NULL;
