-- The social read model (projection `social`): created in each generation's schema; readers use
-- the views `read_models.<table>`. Who is whose friend, follower or blocker, and what they post,
-- like, comment on and keep, with the counts the API shows. One projection for the graph and the
-- posts, so that a feed query sees both at the same position of the log.

-- Friendships, one row per direction: `friend_id`s of a user are one index range.
CREATE TABLE IF NOT EXISTS friendships (
    user_id uuid NOT NULL,
    friend_id uuid NOT NULL,
    since timestamptz NOT NULL,
    PRIMARY KEY (user_id, friend_id)
);
-- Pending friend requests; the addressee's inbox is the second index.
CREATE TABLE IF NOT EXISTS friend_requests (
    from_id uuid NOT NULL,
    to_id uuid NOT NULL,
    requested_at timestamptz NOT NULL,
    PRIMARY KEY (from_id, to_id)
);
CREATE INDEX IF NOT EXISTS friend_requests_incoming ON friend_requests (to_id, requested_at DESC, from_id);
CREATE TABLE IF NOT EXISTS follows (
    follower_id uuid NOT NULL,
    followee_id uuid NOT NULL,
    since timestamptz NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX IF NOT EXISTS follows_followers ON follows (followee_id, since DESC, follower_id);
CREATE TABLE IF NOT EXISTS blocks (
    blocker_id uuid NOT NULL,
    blocked_id uuid NOT NULL,
    since timestamptz NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX IF NOT EXISTS blocks_blocked ON blocks (blocked_id, blocker_id);
-- What a profile counts, kept with the rows they count (never a read-modify-write by a client).
CREATE TABLE IF NOT EXISTS social_counts (
    user_id uuid PRIMARY KEY,
    friends integer NOT NULL DEFAULT 0,
    followers integer NOT NULL DEFAULT 0,
    following integer NOT NULL DEFAULT 0,
    posts integer NOT NULL DEFAULT 0
);
-- Posts, deleted ones included (with `deleted_at`): a like or comment of a post deleted meanwhile
-- still finds its row, and no read path shows it. `likes`, `comments` and `shares` are counts of
-- the live rows of `post_likes`, `comments` and reposts.
CREATE TABLE IF NOT EXISTS posts (
    post_id uuid PRIMARY KEY,
    author_id uuid NOT NULL,
    text text NOT NULL,
    visibility text NOT NULL,
    repost_of uuid,
    hashtags text[] NOT NULL,
    mentions uuid[] NOT NULL,
    created_at timestamptz NOT NULL,
    edited_at timestamptz,
    deleted_at timestamptz,
    likes integer NOT NULL DEFAULT 0,
    comments integer NOT NULL DEFAULT 0,
    shares integer NOT NULL DEFAULT 0
);
-- An author's posts newest first: the feed reads one range of this per friend and followee,
-- and with the visibility in the index it reads nothing else (an index-only scan).
CREATE INDEX IF NOT EXISTS posts_by_author ON posts (author_id, created_at DESC, post_id DESC)
    INCLUDE (visibility) WHERE deleted_at IS NULL;
-- Everyone's public posts newest first (trending).
CREATE INDEX IF NOT EXISTS posts_public_recent ON posts (created_at DESC, post_id DESC)
    WHERE deleted_at IS NULL AND visibility = 'public';
CREATE TABLE IF NOT EXISTS post_hashtags (
    tag text NOT NULL,
    post_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tag, post_id)
);
CREATE INDEX IF NOT EXISTS post_hashtags_recent ON post_hashtags (tag, created_at DESC, post_id DESC);
CREATE INDEX IF NOT EXISTS post_hashtags_since ON post_hashtags (created_at);
CREATE TABLE IF NOT EXISTS post_likes (
    post_id uuid NOT NULL,
    user_id uuid NOT NULL,
    liked_at timestamptz NOT NULL,
    PRIMARY KEY (post_id, user_id)
);
CREATE TABLE IF NOT EXISTS comments (
    comment_id uuid PRIMARY KEY,
    post_id uuid NOT NULL,
    author_id uuid NOT NULL,
    text text NOT NULL,
    reply_to uuid,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX IF NOT EXISTS comments_of_post ON comments (post_id, created_at, comment_id)
    WHERE deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS bookmarks (
    user_id uuid NOT NULL,
    post_id uuid NOT NULL,
    saved_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, post_id)
);
CREATE INDEX IF NOT EXISTS bookmarks_recent ON bookmarks (user_id, saved_at DESC, post_id DESC);
