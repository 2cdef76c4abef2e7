//! Ranking snapshots (`feed_snapshots`, migration 0013): the ranked feed's and trending's
//! first page keeps the ranking it was cut from, and the cursor of every later page points
//! into it, so paging never repeats or skips a post while new posts and likes reorder the
//! live ranking. A snapshot holds ids only: each page reads its posts as they are now (a post
//! deleted meanwhile, or by someone since blocked, is left out of its page).

use super::errors::SocialApiError;
use super::http::cursors::SnapshotCursor;
use crate::pagination::{PageLimit, Pagination};
use crate::problem::{FieldProblem, field_codes};
use sqlx::PgPool;
use uuid::Uuid;

/// Posts a ranking keeps: 25 pages of 20.
pub const RANKING_DEPTH: i64 = 500;

/// What a snapshot ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranking {
    /// The viewer's feed.
    Feed,
    /// Everyone's public posts.
    Trending,
}

impl Ranking {
    fn kind(self) -> &'static str {
        match self {
            Self::Feed => "ranked",
            Self::Trending => "trending",
        }
    }
}

/// The ids of one page of a ranking, with the pagination to the next.
pub struct RankedPage {
    pub post_ids: Vec<Uuid>,
    pub pagination: Pagination,
}

/// The page of `ranking` at `cursor`: on the first page (`cursor` absent) `rank` is run and,
/// if there is more than a page of it, kept as a snapshot of `viewer`'s.
pub async fn page<F, Fut>(
    pool: &PgPool,
    viewer: Uuid,
    ranking: Ranking,
    cursor: Option<SnapshotCursor>,
    limit: PageLimit,
    rank: F,
) -> Result<RankedPage, SocialApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Vec<Uuid>, sqlx::Error>>,
{
    let size = usize::try_from(limit.get()).unwrap_or(20);
    let (snapshot_id, ranked, offset) = match cursor {
        None => {
            let ranked = rank().await?;
            let snapshot_id = Uuid::now_v7();
            if ranked.len() > size {
                sqlx::query!(
                    "INSERT INTO feed_snapshots (snapshot_id, viewer, kind, post_ids) VALUES ($1, $2, $3, $4)",
                    snapshot_id,
                    viewer,
                    ranking.kind(),
                    &ranked,
                )
                .execute(pool)
                .await?;
            }
            (snapshot_id, ranked, 0)
        }
        Some(cursor) => {
            let ranked = sqlx::query_scalar!(
                "SELECT post_ids FROM feed_snapshots WHERE snapshot_id = $1 AND viewer = $2 AND kind = $3",
                cursor.snapshot_id,
                viewer,
                ranking.kind(),
            )
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| {
                SocialApiError::Invalid(
                    "the ranking this cursor continues has expired (after an hour): start again from the first page"
                        .to_owned(),
                    vec![FieldProblem::new("cursor", field_codes::INVALID, "expired or not issued to you")],
                )
            })?;
            (cursor.snapshot_id, ranked, cursor.offset)
        }
    };
    let post_ids: Vec<Uuid> = ranked.iter().skip(offset).take(size).copied().collect();
    let next = offset + size;
    let next_cursor = (next < ranked.len()).then(|| SnapshotCursor { snapshot_id, offset: next }.encode());
    Ok(RankedPage { post_ids, pagination: Pagination { limit: limit.get(), next_cursor } })
}
