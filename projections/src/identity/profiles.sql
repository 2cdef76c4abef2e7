-- User profiles read model (projection `user_profiles`): created in each generation's schema;
-- readers use the views `read_models.user_profiles` and `private_read_models.user_contacts`.
-- One row per account: its profile, settings and role after the last event that changed them.
-- Its email address and phone number are in `user_contacts`, whose view analysts cannot read.
-- `handle` is deliberately not UNIQUE: the command side guarantees uniqueness with claim
-- streams, and a read model must never refuse an event the log already holds.
CREATE TABLE IF NOT EXISTS user_profiles (
    user_id uuid PRIMARY KEY,
    handle text NOT NULL,
    name text NOT NULL,
    bio text,
    avatar text,
    cover_photo text,
    location text,
    website text,
    role text NOT NULL,
    privacy text NOT NULL,
    notifications boolean NOT NULL,
    dark_mode boolean NOT NULL,
    registered_at timestamptz NOT NULL,
    -- When the last event that changed the row was recorded, and its global position.
    updated_at timestamptz NOT NULL,
    last_position bigint NOT NULL
);
-- Handle prefixes (`handle LIKE 'ada%'`): text_pattern_ops compares bytes, so the btree serves
-- LIKE prefixes whatever the database's collation.
CREATE INDEX IF NOT EXISTS user_profiles_handle_prefix ON user_profiles (handle text_pattern_ops);
-- Fuzzy search (`<%`, word similarity) on handles and case-folded names. The name index also
-- serves name prefixes (`lower(name) LIKE 'ada%'`): GIN trigram indexes answer LIKE too.
-- gin_trgm_ops lives in `public`, which follows the generation's schema on the search path.
CREATE INDEX IF NOT EXISTS user_profiles_handle_trgm ON user_profiles USING gin (handle gin_trgm_ops);
CREATE INDEX IF NOT EXISTS user_profiles_name_trgm ON user_profiles USING gin (lower(name) gin_trgm_ops);
-- How to reach each account: personal data, apart from what analysts read (its view is in
-- `private_read_models`). Written with the account's `user_profiles` row, in the same batch.
CREATE TABLE IF NOT EXISTS user_contacts (
    user_id uuid PRIMARY KEY,
    email text,
    email_verified boolean NOT NULL,
    phone text
);
