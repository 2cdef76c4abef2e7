//! The social core over HTTP: friends, follows and blocks, posts, likes, comments,
//! bookmarks, hashtags, trending and the feed.
//!
//! - [`http`]: the endpoints and who may call them ([`FriendsApi`], [`PostsApi`]).
//! - [`service`]: [`Social`], the use cases over the decisions of `loopync_domain::social`.
//! - [`snapshots`]: the rankings the ranked feed and trending page through.
//! - [`errors`]: every refusal's status and stable code.
//! - [`views`]: the request and response bodies.
//! - [`feature`]: the descriptor (events, the social read model, the `feed_item` frame).

pub mod errors;
pub mod feature;
pub mod http;
pub mod service;
mod snapshots;
pub mod views;

pub use feature::SocialFeature;
pub use http::{FriendsApi, PostsApi};
pub use service::Social;
