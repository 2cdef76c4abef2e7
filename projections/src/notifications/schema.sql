-- The notifications read model (projection `notifications`): created in each generation's
-- schema; readers use the views `read_models.<table>` (`private_read_models.push_devices`).
-- Notifications are derived from the events that cause them, each with an id computed from its
-- cause and its recipient, so applying an event twice, or rebuilding, never makes a second one.
CREATE TABLE IF NOT EXISTS notifications (
    notification_id uuid PRIMARY KEY,
    recipient uuid NOT NULL,
    -- friend_request, friend_accepted, like, comment, reply, mention, repost
    kind text NOT NULL,
    actor uuid NOT NULL,
    post_id uuid,
    comment_id uuid,
    -- Notifications shown as one: `like:<post>` and `repost:<post>`; otherwise the id itself.
    group_key text NOT NULL,
    created_at timestamptz NOT NULL,
    read_at timestamptz
);
CREATE INDEX IF NOT EXISTS notifications_inbox ON notifications (recipient, group_key, created_at DESC);
CREATE INDEX IF NOT EXISTS notifications_unread ON notifications (recipient, group_key) WHERE read_at IS NULL;
CREATE INDEX IF NOT EXISTS notifications_of_post ON notifications (post_id) WHERE post_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS notifications_of_comment ON notifications (comment_id) WHERE comment_id IS NOT NULL;
-- What deriving needs to know, kept here so the projection depends on no other read model:
-- posts' authors and visibility, friendships, blocks, and each user's muted kinds.
CREATE TABLE IF NOT EXISTS notification_posts (
    post_id uuid PRIMARY KEY,
    author uuid NOT NULL,
    visibility text NOT NULL
);
CREATE TABLE IF NOT EXISTS notification_friends (
    user_id uuid NOT NULL,
    friend_id uuid NOT NULL,
    PRIMARY KEY (user_id, friend_id)
);
CREATE TABLE IF NOT EXISTS notification_blocks (
    blocker_id uuid NOT NULL,
    blocked_id uuid NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE TABLE IF NOT EXISTS notification_settings (
    user_id uuid PRIMARY KEY,
    muted text[] NOT NULL
);
-- Devices that receive push notifications, each tied to the session that registered it and
-- dropped when that session ends. Personal data: its view is in `private_read_models`.
CREATE TABLE IF NOT EXISTS push_devices (
    token text PRIMARY KEY,
    user_id uuid NOT NULL,
    session_id uuid NOT NULL,
    platform text NOT NULL,
    registered_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS push_devices_of_user ON push_devices (user_id);
CREATE INDEX IF NOT EXISTS push_devices_of_session ON push_devices (session_id);
