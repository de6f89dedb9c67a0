-- Login and registration limits (issue 9, finding 3). The audit log is the one record of
-- failed logins and registrations; the limits count it by client address, so they hold
-- across the cluster. An IPv6 client usually holds a whole /64, so IPv6 addresses count by
-- their /64 (address_key); IPv4 addresses, and anything that is not an address, by themselves.
CREATE FUNCTION address_key(ip text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF position(':' IN ip) = 0 OR ip ILIKE '::ffff:%' THEN -- IPv4 (also IPv4-mapped), or none
        RETURN ip;
    END IF;
    RETURN network(set_masklen(ip::inet, 64))::text;
EXCEPTION WHEN others THEN -- not an address: counts by itself, never fails an audit insert
    RETURN ip;
END $$;

ALTER TABLE audit_logs ADD COLUMN ip_key text GENERATED ALWAYS AS (address_key(ip)) STORED;

-- The counts read only this index (target_id included: failures of one address against one
-- account).
CREATE INDEX audit_logs_action_ip ON audit_logs (action, ip_key, created_at) INCLUDE (target_id);

-- Attempts in flight: reserved before the work a limit protects (a password check) and
-- released after it, and counted with the audit rows, so that requests sent at once are
-- counted at once rather than all passing a count taken before any of them was recorded.
CREATE TABLE limit_reservations (
    id         bigserial PRIMARY KEY,
    action     text NOT NULL,
    ip         text NOT NULL,
    ip_key     text GENERATED ALWAYS AS (address_key(ip)) STORED,
    target_id  text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX limit_reservations_action_ip ON limit_reservations (action, ip_key, created_at) INCLUDE (target_id);
CREATE INDEX limit_reservations_created ON limit_reservations (created_at);

-- Captcha solutions already used, until their challenge expires: a solution is good once,
-- on any node.
CREATE TABLE captcha_spent (
    id         text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX captcha_spent_expires ON captcha_spent (expires_at);
