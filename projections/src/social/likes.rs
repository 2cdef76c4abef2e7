//! Likes in runs: a hot post liked by hundreds at once brings batches of nothing but
//! `like.*` events, and applying them one statement at a time would make the read model the
//! slowest part of a like. Consecutive like events of a batch are folded into one net change
//! per (post, user), which a couple of set-based statements apply; the rest of the batch is
//! applied event by event around the run, so the log's order still holds.
//!
//! The fold is exact, not approximate: a like stream alternates `added` and `removed`, so the
//! run's first event of a key says what stood before it (an `added` means it was not liked),
//! and its last event what stands after; a key whose run ends liked is written as its last
//! `added` wrote it.

use loopync_domain::social::{LikeEvent, MarkChanged};
use sqlx::types::Uuid;
use std::collections::BTreeMap;

/// The net effect of a run on one (post, user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetLike {
    /// Liked before the run.
    pub before: bool,
    /// What the run's last event says: liked after it (and when, who wrote the post).
    pub last: MarkChanged,
    pub after: bool,
    /// The like's stream, whose name makes the notification's id.
    pub stream: String,
}

/// Folds `run` (like events in log order, each with its stream) into one change per
/// (post, user), in a deterministic order.
pub fn fold(run: &[(String, LikeEvent)]) -> Vec<NetLike> {
    let mut net: BTreeMap<(Uuid, Uuid), NetLike> = BTreeMap::new();
    for (stream, event) in run {
        let change = event.change();
        let added = matches!(event, LikeEvent::Added(_));
        net.entry((change.post, change.user))
            .and_modify(|like| {
                like.after = added;
                like.last = change.clone();
            })
            .or_insert_with(|| NetLike {
                before: !added,
                last: change.clone(),
                after: added,
                stream: stream.clone(),
            });
    }
    net.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::types::chrono::Utc;

    fn change(post: u128, user: u128) -> MarkChanged {
        MarkChanged {
            post: Uuid::from_u128(post),
            user: Uuid::from_u128(user),
            post_author: Uuid::nil(),
            at: Utc::now(),
        }
    }

    #[test]
    fn a_run_folds_to_what_stood_before_and_after_each_like() {
        let add = |post, user| ("like-x".to_owned(), LikeEvent::Added(change(post, user)));
        let remove = |post, user| ("like-x".to_owned(), LikeEvent::Removed(change(post, user)));
        let net = fold(&[add(1, 1), remove(1, 1), add(1, 1), remove(1, 2), add(2, 1), remove(2, 1)]);
        let summary: Vec<(u128, u128, bool, bool)> =
            net.iter().map(|n| (n.last.post.as_u128(), n.last.user.as_u128(), n.before, n.after)).collect();
        assert_eq!(summary, vec![(1, 1, false, true), (1, 2, true, false), (2, 1, false, false)]);
    }
}
