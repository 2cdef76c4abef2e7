//! Deployments sharing one NATS cluster: every subject starts with `LOOPYNC_NATS_PREFIX`, so a
//! gateway hears its own deployment's frames (durable ones from its projections, ephemeral
//! ones from its nodes) and nothing published under another prefix or none.

use crate::client::{Client, QUIET, test_config};
use loopync_projections::Subjects;
use loopync_testkit::{Options, nats, spawn_app};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_gateway_hears_only_its_own_deployments_subjects(pool: PgPool) {
    let subjects = Subjects::new("acme.prod").expect("a valid prefix");
    let mut options = Options::default().with_nats(nats().await).with_realtime(test_config());
    options.config.subjects = subjects.clone();
    let app = spawn_app(&pool, options).await;
    let (ada, _) = app.funded(5000).await;
    let bob = app.signup().await;
    app.caught_up().await;
    let (mut bobs, _) = Client::ready(&app, &bob.token, None).await;

    // The projections publish under the prefix, where the gateway listens.
    app.transfer(&ada, bob.id, 700, None, None).await.created();
    let frame = bobs.expect("balance_updated").await;
    assert_eq!(frame["data"]["available"], 700, "{frame}");

    let publisher = nats().await;
    let signal = |from: &str| json!({"type": "signal", "cursor": null, "data": {"from": from}});
    for other in [Subjects::default(), Subjects::new("acme.staging").expect("a valid prefix")] {
        let frame = signal(other.prefix());
        publisher.publish(other.live_ephemeral(bob.id), frame.to_string().into()).await.expect("publish");
    }
    publisher.flush().await.expect("flush");
    bobs.silent(QUIET, "frames of other deployments").await;

    let own = signal(subjects.prefix());
    publisher.publish(subjects.live_ephemeral(bob.id), own.to_string().into()).await.expect("publish");
    assert_eq!(bobs.next_frame().await, own);
}
