//! `loopync admin`: operator commands on accounts, appended through the command pipeline like
//! any other command (decided by the domain, recorded with the operator as actor).
//!
//! `admin set-role --email ada@example.com --role founder` makes the first founder of a new
//! deployment: there is no sign-up as an admin, and nobody yet to promote anyone. The command
//! acts with a founder's authority, so it can grant or take any role; it is as powerful as the
//! database credentials it runs with.

use crate::config::Config;
use crate::runtime;
use anyhow::{Context, bail};
use clap::ValueEnum;
use loopync_commands::{CommandContext, CommandPipeline, GroupCommit, PgEventStore, PipelineConfig};
use loopync_domain::StreamName;
use loopync_domain::claim::{UniqueClaim, claim_id};
use loopync_domain::identity::account::{Account, AccountCommand, AccountEvent};
use loopync_domain::identity::{EMAIL_CLAIM, Email, Role};
use std::sync::Arc;
use uuid::Uuid;

/// A role, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    User,
    Verified,
    Auditor,
    Admin,
    Founder,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::User => Role::User,
            RoleArg::Verified => Role::Verified,
            RoleArg::Auditor => Role::Auditor,
            RoleArg::Admin => Role::Admin,
            RoleArg::Founder => Role::Founder,
        }
    }
}

/// Gives the account registered with `email` the role `role`; prints what changed.
pub async fn set_role(config: &Config, email: &str, role: RoleArg) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|error| anyhow::anyhow!("--email: {error}"))?;
    let pool = runtime::connect(config).await?;
    let store =
        PgEventStore::new(pool.clone(), GroupCommit { enabled: false, max_batch: 1, max_in_flight: 1 });
    let pipeline = CommandPipeline::new(Arc::new(store), PipelineConfig::default());
    let claim = pipeline
        .load_latest::<UniqueClaim>(StreamName::of::<UniqueClaim>(claim_id(EMAIL_CLAIM, email.as_str())))
        .await
        .context("cannot read the event store")?;
    let Some(user_id) = claim.state.owner.as_deref().and_then(|owner| Uuid::parse_str(owner).ok()) else {
        bail!("no account is registered with {email}");
    };
    let operator = format!("operator:{}", whoami());
    let outcome = pipeline
        .execute::<Account>(
            user_id,
            AccountCommand::ChangeRole { role: role.into(), by: Role::Founder },
            &CommandContext::actor(operator),
        )
        .await
        .map_err(|error| anyhow::anyhow!("the role was not changed: {error}"))?;
    match outcome.events.first() {
        Some(AccountEvent::RoleChanged(changed)) => {
            println!("{email} ({user_id}): {:?} -> {:?}", changed.from, changed.to);
        }
        _ => println!("{email} ({user_id}) already has that role"),
    }
    pool.close().await;
    Ok(())
}

/// Who runs the command, for the events' actor.
fn whoami() -> String {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".to_owned())
}
