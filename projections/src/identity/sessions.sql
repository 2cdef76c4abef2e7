-- User sessions read model (projection `user_sessions`): created in each generation's schema;
-- readers use the views `read_models.user_sessions` and `private_read_models.user_session_addresses`.
-- One row per session, as its events and its account's password changes left it.
CREATE TABLE IF NOT EXISTS user_sessions (
    session_id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    -- The client's User-Agent when it signed in (its address is in user_session_addresses).
    device text,
    -- The account's credentials epoch when the session started.
    credentials_epoch integer NOT NULL,
    started_at timestamptz NOT NULL,
    -- The sign-in, then every refresh.
    last_used_at timestamptz NOT NULL,
    -- Of the current refresh token: after it the session cannot be refreshed.
    expires_at timestamptz NOT NULL,
    -- The first ending: `logout`, `revoked`, `token_reused` or `credentials_changed`.
    revoked_at timestamptz,
    revoked_reason text
);
-- A user's devices, newest first; also finds the sessions a password change ends.
CREATE INDEX IF NOT EXISTS user_sessions_by_user ON user_sessions (user_id, started_at DESC);
-- Internal (no view): each account's credentials epoch. A sign-in that read the epoch just
-- before a password change committed can start a session of the old epoch after the change
-- in log order; the domain treats it as ended (it can never refresh), and so must the list.
CREATE TABLE IF NOT EXISTS user_session_epochs (
    user_id uuid PRIMARY KEY,
    credentials_epoch integer NOT NULL
);
-- The client's address when each session signed in: personal data, apart from what analysts
-- read (its view is in `private_read_models`). Written with the session's row.
CREATE TABLE IF NOT EXISTS user_session_addresses (
    session_id uuid PRIMARY KEY,
    ip text
);
