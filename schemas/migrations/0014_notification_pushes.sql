-- Which notifications have been pushed to their recipient's devices: claimed (inserted) by the
-- worker that pushes them before it sends, so two workers never push one twice. Ids are the
-- notifications read model's (deterministic), so a rebuild of it pushes nothing again.
-- Housekeeping-free: a row per notification pushed, dropped after a week by the push job.
CREATE TABLE IF NOT EXISTS notification_pushes (
    notification_id uuid PRIMARY KEY,
    pushed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS notification_pushes_pushed_at ON notification_pushes (pushed_at);

GRANT SELECT, INSERT, DELETE ON notification_pushes TO loopync_app, loopync_workers;
