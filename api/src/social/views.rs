//! The bodies of the social endpoints, each with an example for the OpenAPI document.

pub use crate::pagination::Pagination;
use crate::timestamp::Timestamp;
use loopync_domain::social::Visibility;
use loopync_projections::social::{CommentRow, PostRow, Suggestion, UserEdge};
use poem_openapi::types::Example;
use poem_openapi::{Enum, Object};
use uuid::Uuid;

/// The examples' ids.
const USER_ID: Uuid = Uuid::from_u128(0x0193_a0c4_6c1e_7d2a_9b1f_3f5e_8d2c_4a10);
const FRIEND_ID: Uuid = Uuid::from_u128(0x0193_a0c4_8b11_7e4f_a2c3_6d7e_8f90_1234);
const POST_ID: Uuid = Uuid::from_u128(0x0193_a0c5_1d2e_7f30_8a4b_5c6d_7e8f_9012);
const COMMENT_ID: Uuid = Uuid::from_u128(0x0193_a0c5_2e3f_7041_9b5c_6d7e_8f90_a123);

/// Who may see a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum VisibilityName {
    /// Everyone (but users blocked either way).
    Public,
    /// Your friends.
    Friends,
    /// You alone.
    Private,
}

impl From<VisibilityName> for Visibility {
    fn from(name: VisibilityName) -> Self {
        match name {
            VisibilityName::Public => Visibility::Public,
            VisibilityName::Friends => Visibility::Friends,
            VisibilityName::Private => Visibility::Private,
        }
    }
}

impl VisibilityName {
    fn of(stored: &str) -> Self {
        match Visibility::parse(stored) {
            Some(Visibility::Public) => Self::Public,
            Some(Visibility::Friends) => Self::Friends,
            _ => Self::Private,
        }
    }
}

/// A request naming another user.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct UserIdRequest {
    pub user_id: Uuid,
}

impl Example for UserIdRequest {
    fn example() -> Self {
        Self { user_id: FRIEND_ID }
    }
}

/// Where a friendship stands after a request or an acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum FriendshipStatus {
    /// Your request waits for their answer.
    RequestSent,
    /// You are friends (they had asked you too, or you accepted).
    Friends,
}

/// The friendship after your request or acceptance.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct FriendshipView {
    pub user_id: Uuid,
    pub status: FriendshipStatus,
}

impl Example for FriendshipView {
    fn example() -> Self {
        Self { user_id: FRIEND_ID, status: FriendshipStatus::RequestSent }
    }
}

/// Another user in a list: their public card, and since when they are in it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct UserCardView {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    #[oai(skip_serializing_if_is_none)]
    pub avatar: Option<String>,
    /// When the friendship, request, follow or block began.
    pub since: Timestamp,
}

impl From<UserEdge> for UserCardView {
    fn from(edge: UserEdge) -> Self {
        Self {
            id: edge.user_id,
            handle: edge.handle,
            name: edge.name,
            avatar: edge.avatar,
            since: edge.since.into(),
        }
    }
}

impl Example for UserCardView {
    fn example() -> Self {
        Self {
            id: FRIEND_ID,
            handle: "grace".to_owned(),
            name: "Grace Hopper".to_owned(),
            avatar: None,
            since: Timestamp::example(),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct UserCardPage {
    pub data: Vec<UserCardView>,
    pub pagination: Pagination,
}

impl Example for UserCardPage {
    fn example() -> Self {
        Self { data: vec![UserCardView::example()], pagination: Pagination::example() }
    }
}

/// Someone you may know: a friend of your friends.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct SuggestionView {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    #[oai(skip_serializing_if_is_none)]
    pub avatar: Option<String>,
    /// How many of your friends are theirs.
    pub mutual_friends: i64,
}

impl From<Suggestion> for SuggestionView {
    fn from(s: Suggestion) -> Self {
        Self { id: s.user_id, handle: s.handle, name: s.name, avatar: s.avatar, mutual_friends: s.mutual }
    }
}

impl Example for SuggestionView {
    fn example() -> Self {
        Self {
            id: FRIEND_ID,
            handle: "grace".to_owned(),
            name: "Grace Hopper".to_owned(),
            avatar: None,
            mutual_friends: 3,
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct SuggestionList {
    pub data: Vec<SuggestionView>,
}

impl Example for SuggestionList {
    fn example() -> Self {
        Self { data: vec![SuggestionView::example()] }
    }
}

/// Which friend requests to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum RequestDirection {
    /// Requests you received.
    Incoming,
    /// Requests you sent.
    Outgoing,
}

/// How the feed is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum FeedMode {
    /// Newest first.
    Latest,
    /// By engagement with time decay (see the README); the cursor keeps the first page's ranking.
    Ranked,
}

/// A new post: text (1–5,000 characters), or a repost of a public post (`repostOf`) with or
/// without text of your own.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct CreatePostRequest {
    /// 1 to 5,000 characters; `#hashtags` and `@handles` in it are found. May be empty or
    /// absent for a repost.
    pub text: Option<String>,
    /// Media attachments: refused (`media_not_supported`) until the media service exists.
    pub media_ids: Option<Vec<String>>,
    /// `public` when absent.
    pub visibility: Option<VisibilityName>,
    /// The public post this one shares.
    pub repost_of: Option<Uuid>,
}

impl Example for CreatePostRequest {
    fn example() -> Self {
        Self {
            text: Some("First light over the harbour #sunrise with @grace".to_owned()),
            media_ids: None,
            visibility: Some(VisibilityName::Friends),
            repost_of: None,
        }
    }
}

/// A post's new text.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct EditPostRequest {
    /// 1 to 5,000 characters.
    pub text: String,
}

impl Example for EditPostRequest {
    fn example() -> Self {
        Self { text: "First light over the harbour #sunrise".to_owned() }
    }
}

/// A post's author, as everyone sees them.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct AuthorView {
    pub id: Uuid,
    /// Absent for an account the profiles do not show yet.
    #[oai(skip_serializing_if_is_none)]
    pub handle: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub avatar: Option<String>,
}

impl Example for AuthorView {
    fn example() -> Self {
        Self {
            id: USER_ID,
            handle: Some("ada".to_owned()),
            name: Some("Ada Lovelace".to_owned()),
            avatar: None,
        }
    }
}

/// A post as you may see it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct PostView {
    pub id: Uuid,
    pub author: AuthorView,
    /// Empty for a plain repost.
    pub text: String,
    pub visibility: VisibilityName,
    /// The post this one shares; read it with `GET /api/posts/{postId}` (404 when it was
    /// deleted or you may not see it).
    #[oai(skip_serializing_if_is_none)]
    pub repost_of: Option<Uuid>,
    pub hashtags: Vec<String>,
    pub created_at: Timestamp,
    #[oai(skip_serializing_if_is_none)]
    pub edited_at: Option<Timestamp>,
    pub likes: i32,
    pub comments: i32,
    pub shares: i32,
    /// Whether you liked it.
    pub liked: bool,
    /// Whether you bookmarked it.
    pub bookmarked: bool,
}

impl From<PostRow> for PostView {
    fn from(row: PostRow) -> Self {
        Self {
            id: row.post_id,
            author: AuthorView {
                id: row.author_id,
                handle: row.author_handle,
                name: row.author_name,
                avatar: row.author_avatar,
            },
            text: row.text,
            visibility: VisibilityName::of(&row.visibility),
            repost_of: row.repost_of,
            hashtags: row.hashtags,
            created_at: row.created_at.into(),
            edited_at: row.edited_at.map(Timestamp),
            likes: row.likes,
            comments: row.comments,
            shares: row.shares,
            liked: row.liked,
            bookmarked: row.bookmarked,
        }
    }
}

impl Example for PostView {
    fn example() -> Self {
        Self {
            id: POST_ID,
            author: AuthorView::example(),
            text: "First light over the harbour #sunrise with @grace".to_owned(),
            visibility: VisibilityName::Friends,
            repost_of: None,
            hashtags: vec!["sunrise".to_owned()],
            created_at: Timestamp::example(),
            edited_at: None,
            likes: 12,
            comments: 3,
            shares: 1,
            liked: true,
            bookmarked: false,
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct PostPage {
    pub data: Vec<PostView>,
    pub pagination: Pagination,
}

impl Example for PostPage {
    fn example() -> Self {
        Self { data: vec![PostView::example()], pagination: Pagination::example() }
    }
}

/// Whether you like a post, after your request.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct LikeView {
    pub post_id: Uuid,
    pub liked: bool,
}

impl Example for LikeView {
    fn example() -> Self {
        Self { post_id: POST_ID, liked: true }
    }
}

/// Whether a post is in your bookmarks, after your request.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct BookmarkView {
    pub post_id: Uuid,
    pub bookmarked: bool,
}

impl Example for BookmarkView {
    fn example() -> Self {
        Self { post_id: POST_ID, bookmarked: true }
    }
}

/// A comment on a post, or a reply to one of its comments.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields, example)]
pub struct CommentRequest {
    /// 1 to 2,000 characters.
    pub text: String,
    /// The comment (of the same post) this one answers.
    pub reply_to: Option<Uuid>,
}

impl Example for CommentRequest {
    fn example() -> Self {
        Self { text: "Worth the early start!".to_owned(), reply_to: None }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct CommentView {
    pub id: Uuid,
    pub post_id: Uuid,
    pub author: AuthorView,
    pub text: String,
    #[oai(skip_serializing_if_is_none)]
    pub reply_to: Option<Uuid>,
    pub created_at: Timestamp,
}

impl From<CommentRow> for CommentView {
    fn from(row: CommentRow) -> Self {
        Self {
            id: row.comment_id,
            post_id: row.post_id,
            author: AuthorView {
                id: row.author_id,
                handle: row.author_handle,
                name: row.author_name,
                avatar: row.author_avatar,
            },
            text: row.text,
            reply_to: row.reply_to,
            created_at: row.created_at.into(),
        }
    }
}

impl Example for CommentView {
    fn example() -> Self {
        Self {
            id: COMMENT_ID,
            post_id: POST_ID,
            author: AuthorView::example(),
            text: "Worth the early start!".to_owned(),
            reply_to: None,
            created_at: Timestamp::example(),
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct CommentPage {
    pub data: Vec<CommentView>,
    pub pagination: Pagination,
}

impl Example for CommentPage {
    fn example() -> Self {
        Self { data: vec![CommentView::example()], pagination: Pagination::example() }
    }
}

/// A hashtag and how many public posts of the window used it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct HashtagTrend {
    pub tag: String,
    pub posts: i64,
}

impl Example for HashtagTrend {
    fn example() -> Self {
        Self { tag: "sunrise".to_owned(), posts: 42 }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct HashtagTrendList {
    pub data: Vec<HashtagTrend>,
}

impl Example for HashtagTrendList {
    fn example() -> Self {
        Self { data: vec![HashtagTrend::example()] }
    }
}
