-- Durable live updates: what the realtime gateway replays to a reconnecting client.
--
-- Projections write a user's updates in the same transaction as their read-model rows and
-- checkpoint, then publish them on NATS after the commit. NATS carries them live; these rows are
-- what makes them loss-free: a client that reconnects with its last cursor gets every update
-- after it from here, and a node that sees a gap in what NATS brought fills it from here.
--
-- Cursors are per user and gap-free in commit order. A writer takes the next numbers from the
-- user's row in `live_cursors` with an UPDATE, whose row lock it holds until it commits, so a
-- writer that draws number n + 1 cannot commit before the one that drew n. Readers asking for
-- "after n" therefore never skip a row that commits later with a smaller number (the problem a
-- global sequence has; see 0001_event_store.sql). Writers lock the users of a batch in id order,
-- so two batches touching the same users cannot deadlock.

CREATE TABLE live_cursors (
    user_id uuid PRIMARY KEY,
    -- The last cursor drawn for the user.
    last_seq bigint NOT NULL
);

CREATE TABLE live_updates (
    user_id uuid NOT NULL,
    seq bigint NOT NULL,
    -- The frame's `type`: balance_updated, profile_updated, ...
    kind text NOT NULL,
    data jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, seq)
);

-- Retention: housekeeping deletes rows older than the configured window (default 7 days); a
-- cursor before what is left gets `resync_required`.
CREATE INDEX live_updates_created_at ON live_updates (created_at);
