-- Failed sign-in attempts, for lockouts that hold across every API node and across restarts
-- (an in-memory counter per node would let an attacker multiply their guesses by the number
-- of nodes). Not domain state, so not events: rows older than the longest window are swept.
--
-- `key_hash` is the SHA-256 of what is throttled (a normalised email address), so this table
-- holds no personal data.
CREATE TABLE auth_failures (
    scope      text        NOT NULL,  -- what failed: 'login'
    key_hash   text        NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_failures_by_key ON auth_failures (scope, key_hash, failed_at);
