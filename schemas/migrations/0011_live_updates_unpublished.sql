-- Live updates stored but not yet known to have reached NATS.
--
-- A projection's batch stores its live updates (0006_live_updates.sql) in the same transaction
-- as its read-model rows and checkpoint, and publishes them after the commit. A worker that dies
-- between the two leaves updates that nobody published; the gateway would notice only when a
-- later update of the same user showed the gap, which may never come. So the batch also marks
-- each update here, in the same transaction, and the runner deletes the marks once NATS has
-- confirmed the publish (a flush: the server has read everything sent before it). Whoever owns
-- the projection next publishes what is still marked, in cursor order, when it takes the
-- projection over, and every owner retries its own leftovers (a publish that failed while NATS
-- was away) every few seconds.
--
-- A republished update the gateway already delivered is dropped there (its cursor is not past
-- the device's), so publishing twice is harmless; publishing never is what this table prevents.
-- Rows live for milliseconds: the table stays tiny, and the runner's scan by projection needs no
-- index of its own.

CREATE TABLE live_updates_unpublished (
    user_id uuid NOT NULL,
    seq bigint NOT NULL,
    -- The projection whose batch stored the update: its next owner publishes it.
    projection text NOT NULL,
    PRIMARY KEY (user_id, seq),
    -- Retention deleting an update old enough also forgets that it was never published.
    FOREIGN KEY (user_id, seq) REFERENCES live_updates (user_id, seq) ON DELETE CASCADE
);

-- Roles (0010_roles.sql): the workers mark, publish and clear; the API never touches the marks.
GRANT SELECT, INSERT, DELETE ON live_updates_unpublished TO loopync_workers;
