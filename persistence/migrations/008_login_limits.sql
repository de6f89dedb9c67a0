-- Login and registration limits (issue 9, finding 3). The audit log is the one record of
-- failed logins and registrations; the limits count it by client address, so they hold
-- across the cluster. The index serves those counts without touching the table
-- (target_id included: failures of one address against one account).
CREATE INDEX audit_logs_action_ip ON audit_logs (action, ip, created_at) INCLUDE (target_id);

-- Captcha solutions already used, until their challenge expires: a solution is good once,
-- on any node.
CREATE TABLE captcha_spent (
    id         text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX captcha_spent_expires ON captcha_spent (expires_at);
