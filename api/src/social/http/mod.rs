//! The social endpoints: [`FriendsApi`] (`/api/friends/*`) and [`PostsApi`] (posts and the
//! feed, likes, comments, bookmarks, hashtags, trending, follows).

pub mod cursors;
mod friends;
mod posts;

pub use friends::FriendsApi;
pub use posts::PostsApi;

use loopync_projections::social::SocialReadModel;
use poem_openapi::Tags;

/// What the social reads wait for, for read-your-writes.
const READ_MODELS: &[&str] = &[SocialReadModel::NAME];

#[derive(Tags)]
enum Tag {
    /// Friends, friend requests and blocks.
    Friends,
    /// Posts, the feed, likes, comments, bookmarks, hashtags, trending and follows.
    Posts,
}
