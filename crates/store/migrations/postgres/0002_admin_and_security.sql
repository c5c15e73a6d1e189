-- Roles and administration, security hardening.

-- A disabled account cannot log in, and its sessions stop working at once.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

-- A cancelled showtime sells nothing more and is not listed.
ALTER TABLE showtimes ADD COLUMN cancelled_at BIGINT;

-- Failed logins per account ('email:…') and per client address ('ip:…'), for throttling.
CREATE TABLE login_failures (
    key             TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
);

-- Who did what, when, from where. Append-only: the API has no way to change or delete it.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    TEXT,
    actor_email TEXT,
    ip          TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    details     TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at, id);
CREATE INDEX audit_log_by_action ON audit_log (action, at);
