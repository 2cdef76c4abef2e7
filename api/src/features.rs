//! The features of Loopync, listed once.
use loopync_projections::Projection;
use std::sync::Arc;
/// Every feature's projections, in the order they run.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    use loopync_projections::identity::{UserProfiles, UserSessions};
    use loopync_projections::looppay::LedgerReadModel;
    vec![Arc::new(UserProfiles), Arc::new(UserSessions), Arc::new(LedgerReadModel)]
}
