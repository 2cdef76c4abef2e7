//! Authentication: the token in the query or the first frame, and what happens without one.

use crate::client::{Client, Ended, node};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_token_in_the_first_frame_opens_the_connection(pool: PgPool) {
    let app = node(&pool).await;
    let ada = app.signup().await;
    let mut client = Client::connect(&app, "").await;
    client.send_json(&json!({"type": "auth", "data": {"token": ada.token}})).await;
    let frames = client.until("ready").await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["data"]["userId"], ada.id.to_string());
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn no_valid_token_closes_with_4001(pool: PgPool) {
    let app = node(&pool).await;
    let ada = app.signup().await;

    let mut forged = Client::connect(&app, &format!("token={}x", ada.token)).await;
    assert_eq!(forged.ended().await, Ended::Closed(4001));

    let mut garbage = Client::connect(&app, "token=not-a-jwt").await;
    assert_eq!(garbage.ended().await, Ended::Closed(4001));

    // Without a query token the first frame must be `auth`.
    let mut impatient = Client::connect(&app, "").await;
    impatient.send_text(json!({"type": "ping"}).to_string()).await;
    assert_eq!(impatient.ended().await, Ended::Closed(4001));
}
