//! Who may see whom over the gateway: the one rule behind presence, typing and signaling.
//!
//! [`may_see`] is the rule, pure: what a profile's privacy setting shows to a viewer who is
//! [`Relation`] to its owner (`public`: everyone not blocked either way; `friends`: friends;
//! `private`: the owner) — the same rule as every other read path's. Presence asks it one way
//! (may the watcher see the watched user?). Typing and signaling ask it both ways ([`reach`]):
//! a `typing_indicator` or a `signal` tells its receiver who sent it and that they are there,
//! so it goes only between users who may see each other, and a block either way stops it.

use loopync_domain::social::{Relation, Visibility};
use loopync_projections::identity::profiles;
use loopync_projections::social::graph;
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// Whether a viewer who is `relation` to a user whose privacy setting is `privacy` may see
/// them (`None`: the read model does not have the user, who is then seen by nobody else).
pub(crate) fn may_see(relation: &Relation, privacy: Option<&str>) -> bool {
    if relation.is_self {
        return true;
    }
    privacy.and_then(Visibility::parse).is_some_and(|privacy| relation.may_see(privacy))
}

/// Which of `user_ids` exist, and whether `viewer` may see each of them ([`may_see`]).
pub(crate) async fn visibility(
    pool: &PgPool,
    viewer: Uuid,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, bool>, sqlx::Error> {
    let rows = profiles::privacies(pool, user_ids).await?;
    let ids: Vec<Uuid> = rows.iter().map(|(user_id, _)| *user_id).collect();
    let relations = graph::relations(pool, viewer, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|(user_id, privacy)| {
            let relation = relations.get(&user_id).copied().unwrap_or_default();
            (user_id, may_see(&relation, Some(&privacy)))
        })
        .collect())
}

/// Whether `sender` may address typing or signaling to `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// They may see each other.
    Allowed,
    /// The target exists, but one of them may not see the other.
    Forbidden,
    /// No such user.
    Unknown,
}

/// The verdict of the rule, both ways, for `sender` addressing `target` (two queries for both).
pub(crate) async fn reach(pool: &PgPool, sender: Uuid, target: Uuid) -> Result<Reach, sqlx::Error> {
    let rows: HashMap<Uuid, String> =
        profiles::privacies(pool, &[sender, target]).await?.into_iter().collect();
    let relation = graph::relation(pool, sender, target).await?;
    Ok(verdict(&relation, rows.get(&sender).map(String::as_str), rows.get(&target).map(String::as_str)))
}

/// [`reach`] on what `target` is to `sender` and the two privacy settings read.
fn verdict(relation: &Relation, sender_privacy: Option<&str>, target_privacy: Option<&str>) -> Reach {
    if target_privacy.is_none() {
        return Reach::Unknown;
    }
    if may_see(relation, target_privacy) && may_see(&relation.mirrored(), sender_privacy) {
        Reach::Allowed
    } else {
        Reach::Forbidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stranger() -> Relation {
        Relation::default()
    }

    fn friend() -> Relation {
        Relation { friends: true, ..Relation::default() }
    }

    #[test]
    fn a_user_sees_themself_whatever_their_privacy() {
        for privacy in [Some("public"), Some("friends"), Some("private"), None] {
            assert!(may_see(&Relation::own(), privacy), "{privacy:?}");
        }
    }

    #[test]
    fn friends_see_friends_profiles_and_strangers_only_public_ones() {
        assert!(may_see(&stranger(), Some("public")));
        assert!(!may_see(&stranger(), Some("friends")));
        assert!(may_see(&friend(), Some("friends")));
        assert!(!may_see(&friend(), Some("private")));
        assert!(!may_see(&stranger(), None));
    }

    #[test]
    fn a_block_either_way_hides_even_a_public_user() {
        assert!(!may_see(&Relation { blocking: true, ..stranger() }, Some("public")));
        assert!(!may_see(&Relation { blocked_by: true, ..stranger() }, Some("public")));
    }

    #[test]
    fn typing_and_signals_need_both_to_see_each_other() {
        assert_eq!(verdict(&stranger(), Some("public"), Some("public")), Reach::Allowed);
        // A private target, or a private sender: the receiver would learn of someone hidden.
        assert_eq!(verdict(&stranger(), Some("public"), Some("private")), Reach::Forbidden);
        assert_eq!(verdict(&stranger(), Some("private"), Some("public")), Reach::Forbidden);
        assert_eq!(verdict(&stranger(), Some("friends"), Some("public")), Reach::Forbidden);
        // Friends reach each other through `friends` settings.
        assert_eq!(verdict(&friend(), Some("friends"), Some("friends")), Reach::Allowed);
        // A block either way stops it, whatever the settings.
        assert_eq!(
            verdict(&Relation { blocked_by: true, ..friend() }, Some("public"), Some("public")),
            Reach::Forbidden
        );
        // A sender the read model does not have yet is seen by nobody.
        assert_eq!(verdict(&stranger(), None, Some("public")), Reach::Forbidden);
        assert_eq!(verdict(&stranger(), Some("public"), None), Reach::Unknown);
    }
}
