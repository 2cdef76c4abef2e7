//! The features of Loopync, listed once: their descriptors and their settings.
//!
//! Adding a feature: its descriptor to [`all`], its settings (if any) to [`FeatureSettings`],
//! its HTTP API to [`crate::app::FeatureApis`], its event group to
//! `loopync_schemas::registry::GROUPS`. See the README, "Adding a feature".

use crate::feature::Feature;
use crate::identity::IdentityFeature;
use crate::identity::settings::IdentitySettings;
use crate::looppay::LoopPayFeature;
use crate::looppay::settings::{LoopPaySettings, LoopPaySettingsError};
use crate::notifications::NotificationsFeature;
use crate::social::SocialFeature;
use crate::state::ApiConfig;
use clap::Args;
use loopync_projections::Projection;
use std::sync::Arc;

/// Every feature of Loopync, in the order their projections run.
pub fn all() -> Vec<Arc<dyn Feature>> {
    vec![
        Arc::new(IdentityFeature),
        Arc::new(LoopPayFeature),
        Arc::new(SocialFeature),
        Arc::new(NotificationsFeature),
    ]
}

/// Every feature's projections, in the order they run.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    all().iter().flat_map(|feature| feature.projections()).collect()
}

/// Every feature's settings: flags and environment variables of the binary, which flattens
/// this struct into its own.
#[derive(Debug, Clone, Args)]
pub struct FeatureSettings {
    #[command(flatten)]
    pub identity: IdentitySettings,
    #[command(flatten)]
    pub looppay: LoopPaySettings,
}

/// Settings a feature cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    LoopPay(#[from] LoopPaySettingsError),
}

impl FeatureSettings {
    /// `config` with every feature's part of it taken from these settings.
    pub fn apply(&self, config: ApiConfig) -> Result<ApiConfig, SettingsError> {
        Ok(ApiConfig { auth: self.identity.config(), looppay: self.looppay.config()?, ..config })
    }

    /// What in these settings is only safe on a developer's machine (tokens signed with a
    /// random secret, top-ups confirmed without payment), in plain words. A server refuses to
    /// start with any of it unless development mode is on.
    pub fn development_only(&self) -> Vec<&'static str> {
        [self.identity.development_only(), self.looppay.development_only()].into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopync_schemas::registry;
    use std::collections::{BTreeMap, BTreeSet};

    /// A feature's events are appended by its decisions and nowhere else: each registered type
    /// belongs to exactly one feature, or to the platform (claims, the core's sample wallet).
    #[test]
    fn every_event_type_belongs_to_one_feature_or_the_platform() {
        let mut owners = BTreeMap::new();
        let features = all();
        let declared = features.iter().map(|feature| (feature.name(), feature.event_types()));
        let platform = [("platform", registry::claims::EVENTS), ("platform", registry::sample::EVENTS)];
        for (owner, event_types) in declared.chain(platform) {
            for info in event_types {
                let previous = owners.insert(info.name, owner);
                assert!(previous.is_none(), "{} is declared by {owner} and {previous:?}", info.name);
            }
        }
        let registered: BTreeSet<&str> = registry::all().map(|info| info.name).collect();
        let declared: BTreeSet<&str> = owners.keys().copied().collect();
        assert_eq!(declared, registered, "a feature's event group is missing from registry::GROUPS");
    }

    #[test]
    fn features_and_their_projections_have_unique_names() {
        let features = all();
        let names: BTreeSet<&str> = features.iter().map(|feature| feature.name()).collect();
        assert_eq!(names.len(), features.len());
        let projections = projections();
        let names: BTreeSet<&str> = projections.iter().map(|projection| projection.name()).collect();
        assert_eq!(names.len(), projections.len());
        assert!(!names.iter().any(|name| name.starts_with("sample")), "the sample wallet runs in tests only");
    }
}
