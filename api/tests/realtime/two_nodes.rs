//! Two nodes on one database and one NATS: a command sent to node B reaches a client on node A,
//! and every device of a user (one socket per node) gets the same durable frame, once.

use crate::client::{Client, QUIET, cursor, node, node_with, stored, test_config};
use sqlx::PgPool;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_transfer_sent_to_node_b_reaches_a_client_on_node_a(pool: PgPool) {
    let a = node(&pool).await;
    let b = node_with(&pool, test_config(), false).await;
    let (ada, _) = b.funded(5000).await;
    let bob = b.signup().await;
    a.caught_up().await;

    let (mut bobs, ready) = Client::ready(&a, &bob.token, None).await;
    let start = cursor(&ready);
    b.transfer(&ada, bob.id, 1250, None, None).await.created();

    let frame = bobs.expect("balance_updated").await;
    assert_eq!(cursor(&frame), start + 1, "{frame}");
    assert_eq!(frame["data"]["available"], 1250, "{frame}");
    assert_eq!(frame["data"]["held"], 0, "{frame}");
    assert_eq!(frame["data"]["currency"], "LOOP", "{frame}");
    let (kind, data) = stored(&pool, bob.id, start + 1).await;
    assert_eq!((kind.as_str(), &data), ("balance_updated", &frame["data"]));
    bobs.silent(QUIET, "one transfer, one frame").await;
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn every_device_of_a_user_on_either_node_gets_the_update_once(pool: PgPool) {
    let a = node(&pool).await;
    let b = node_with(&pool, test_config(), false).await;
    let (ada, _) = a.funded(5000).await;
    let bob = a.signup().await;
    a.caught_up().await;

    let (mut phone, phone_ready) = Client::ready(&a, &bob.token, None).await;
    let (mut laptop, laptop_ready) = Client::ready(&b, &bob.token, None).await;
    assert_eq!(phone_ready["cursor"], laptop_ready["cursor"]);
    let start = cursor(&phone_ready);

    // One transfer through each node.
    b.transfer(&ada, bob.id, 100, None, None).await.created();
    let first_phone = phone.expect("balance_updated").await;
    let first_laptop = laptop.expect("balance_updated").await;
    a.transfer(&ada, bob.id, 200, None, None).await.created();
    let second_phone = phone.expect("balance_updated").await;
    let second_laptop = laptop.expect("balance_updated").await;

    for (device, first, second) in
        [("phone (A)", &first_phone, &second_phone), ("laptop (B)", &first_laptop, &second_laptop)]
    {
        assert_eq!(cursor(first), start + 1, "{device}: {first}");
        assert_eq!(first["data"]["available"], 100, "{device}: {first}");
        assert_eq!(cursor(second), start + 2, "{device}: {second}");
        assert_eq!(second["data"]["available"], 300, "{device}: {second}");
    }
    assert_eq!(first_phone, first_laptop);
    assert_eq!(second_phone, second_laptop);
    phone.silent(QUIET, "phone: no duplicates").await;
    laptop.silent(QUIET, "laptop: no duplicates").await;
}
