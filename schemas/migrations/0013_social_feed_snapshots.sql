-- Ranked feed pages: the ranking a client's first page was cut from, kept so that its next
-- pages continue the same order while new posts and likes arrive (no item repeated, none
-- skipped). The cursor names the snapshot and an offset into `post_ids`. Snapshots are
-- request state, not a read model: the API writes them, housekeeping drops them after an hour.
CREATE TABLE IF NOT EXISTS feed_snapshots (
    snapshot_id uuid PRIMARY KEY,
    viewer uuid NOT NULL,
    -- What the snapshot ranks: `ranked` (the viewer's feed) or `trending` (everyone's public posts).
    kind text NOT NULL,
    post_ids uuid[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS feed_snapshots_created ON feed_snapshots (created_at);

GRANT SELECT, INSERT, DELETE ON feed_snapshots TO loopync_app, loopync_workers;
