//! Who may see whom over the gateway: the one rule behind presence, typing and signaling.
//!
//! [`may_see`] is the rule, pure: a user sees themself, and others whose privacy is `public`.
//! Presence asks it one way (may the watcher see the watched user?). Typing and signaling ask
//! it both ways ([`reach`]): a `typing_indicator` or a `signal` tells its receiver who sent it
//! and that they are there, so it goes only between users who may see each other, and a
//! private user neither receives nor sends them.
//!
//! Today the rule reads the privacy setting of the profiles read model and nothing else, so a
//! `friends` profile is seen by nobody but its owner. When friendships and blocks exist, they
//! plug in here, in [`may_see`]'s inputs: `friends` then means friends, and a block hides each
//! from the other whatever the settings; every caller follows without changing.

use loopync_projections::identity::profiles;
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// Whether `viewer` may see `target`, whose privacy setting is `target_privacy` (`None`: the
/// read model does not have the user, who is then seen by nobody else).
pub(crate) fn may_see(viewer: Uuid, target: Uuid, target_privacy: Option<&str>) -> bool {
    viewer == target || target_privacy == Some("public")
}

/// Which of `user_ids` exist, and whether `viewer` may see each of them ([`may_see`]).
pub(crate) async fn visibility(
    pool: &PgPool,
    viewer: Uuid,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, bool>, sqlx::Error> {
    let rows = profiles::privacies(pool, user_ids).await?;
    Ok(rows
        .into_iter()
        .map(|(user_id, privacy)| (user_id, may_see(viewer, user_id, Some(&privacy))))
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

/// The verdict of the rule, both ways, for `sender` addressing `target` (one query for both).
pub(crate) async fn reach(pool: &PgPool, sender: Uuid, target: Uuid) -> Result<Reach, sqlx::Error> {
    let rows: HashMap<Uuid, String> =
        profiles::privacies(pool, &[sender, target]).await?.into_iter().collect();
    Ok(verdict(sender, target, rows.get(&sender).map(String::as_str), rows.get(&target).map(String::as_str)))
}

/// [`reach`] on the two privacy settings read.
fn verdict(sender: Uuid, target: Uuid, sender_privacy: Option<&str>, target_privacy: Option<&str>) -> Reach {
    if target_privacy.is_none() {
        return Reach::Unknown;
    }
    if may_see(sender, target, target_privacy) && may_see(target, sender, sender_privacy) {
        Reach::Allowed
    } else {
        Reach::Forbidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_sees_themself_whatever_their_privacy() {
        let ada = Uuid::now_v7();
        for privacy in [Some("public"), Some("friends"), Some("private"), None] {
            assert!(may_see(ada, ada, privacy), "{privacy:?}");
        }
    }

    #[test]
    fn others_see_only_public_users_until_friendships_exist() {
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(may_see(ada, bob, Some("public")));
        assert!(!may_see(ada, bob, Some("friends")));
        assert!(!may_see(ada, bob, Some("private")));
        assert!(!may_see(ada, bob, None));
    }

    #[test]
    fn typing_and_signals_need_both_to_see_each_other() {
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(verdict(ada, bob, Some("public"), Some("public")), Reach::Allowed);
        // A private target, or a private sender: the receiver would learn of someone hidden.
        assert_eq!(verdict(ada, bob, Some("public"), Some("private")), Reach::Forbidden);
        assert_eq!(verdict(ada, bob, Some("private"), Some("public")), Reach::Forbidden);
        assert_eq!(verdict(ada, bob, Some("friends"), Some("public")), Reach::Forbidden);
        // A sender the read model does not have yet is seen by nobody.
        assert_eq!(verdict(ada, bob, None, Some("public")), Reach::Forbidden);
        assert_eq!(verdict(ada, bob, Some("public"), None), Reach::Unknown);
    }
}
