//! Read-your-writes without the client's help: a session's read sent right after its own
//! command reflects it — no `Loopync-Position` sent, no sleep, no retry — for every command and
//! read of identity and LoopPay, on the node that ran the command and on another node sharing the
//! database and NATS.
//!
//! Every pair runs with the projections held back ([`Stall`]): the checkpoint table is locked,
//! so no projection can apply the command until the test lets go. A read that did not wait for
//! its session's position would answer at once from the read model as it was; these reads must
//! still be waiting after [`HOLD`], then answer `fresh`, with the command in them, once the
//! projections move on. With the mechanism switched off the same read answers at once and stale
//! (`without_the_session_memory_the_read_right_after_a_write_is_stale`): the checks can fail.
//!
//! Across nodes, reads are sent once the reading node has heard the command's position ([`heard`]):
//! the one window the platform leaves (see the README), which an in-process client, faster than
//! any over a network, would otherwise hit now and then on a busy machine.

use loopync_api::SessionConsistencyConfig;
use loopync_domain::identity::Role;
use loopync_schemas::Position;
use loopync_testkit::{
    Options, PASSWORD, Reply, TestApp, User, int, nats, send, spawn_app, string, unique, uuid,
};
use reqwest::Method;
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How long reads must keep waiting while the projections are held back.
const HOLD: Duration = Duration::from_millis(300);

/// Longest a node may take to hear another node's position over NATS.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The projections held back: a transaction holding the checkpoint table in `EXCLUSIVE` mode,
/// which every projection batch needs (it locks its checkpoint row `FOR UPDATE` first). Reads of
/// read models and checkpoints go on (`SELECT` is not blocked), seeing them as they were.
struct Stall(PgConnection);

impl Stall {
    async fn hold(pool: &PgPool) -> Self {
        let mut connection =
            PgConnection::connect_with(&pool.connect_options()).await.expect("stall: connect");
        connection
            .execute("BEGIN; LOCK TABLE projection_checkpoints IN EXCLUSIVE MODE")
            .await
            .expect("stall: lock");
        Self(connection)
    }

    /// Asserts that every read (after `what`) is still waiting after [`HOLD`], lets the
    /// projections go, and returns the answers in order.
    async fn release_after(mut self, what: &str, reads: Vec<JoinHandle<Reply>>) -> Vec<Reply> {
        tokio::time::sleep(HOLD).await;
        let early = reads.iter().filter(|read| read.is_finished()).count();
        // For the failure message: where the projections stood while held back.
        let checkpoints: Vec<(String, String, i64)> = if early > 0 {
            sqlx::query_as(
                "SELECT projection, transaction_id::text, global_position FROM projection_checkpoints",
            )
            .fetch_all(&mut self.0)
            .await
            .unwrap_or_default()
        } else {
            Vec::new()
        };
        self.release().await;
        let mut replies = Vec::new();
        for read in reads {
            replies.push(read.await.expect("read"));
        }
        assert_eq!(
            early, 0,
            "{what}: reads answered while the projections were held back (at {checkpoints:?}), \
             without waiting for the session's position: {replies:#?}"
        );
        replies
    }

    /// Lets the projections go.
    async fn release(mut self) {
        self.0.execute("COMMIT").await.expect("stall: release");
    }
}

/// A GET as `token` on `node`, without `Loopync-Position`, sent now and answered later.
fn read(node: &TestApp, token: &str, path: &str) -> JoinHandle<Reply> {
    read_at(node, token, path, None)
}

/// A GET as `token` on `node`, naming `position` in `Loopync-Position` if given, sent now and
/// answered later.
fn read_at(node: &TestApp, token: &str, path: &str, position: Option<&str>) -> JoinHandle<Reply> {
    let mut request = node.client.get(node.url(path)).bearer_auth(token);
    if let Some(position) = position {
        request = request.header("Loopync-Position", position);
    }
    tokio::spawn(send(format!("GET {path} on {} naming {position:?}", node.addr), request))
}

/// Waits until `node` has heard that the session of `token` reached the position `command`
/// answered with: at once on the node that ran it; over NATS on another. Panics after
/// [`DELIVERY_TIMEOUT`].
async fn heard(node: &TestApp, token: &str, command: &Reply) {
    let position: Position = command.pos().parse().unwrap();
    let claims = node.state.identity.tokens.verify_access(token).expect("token");
    let started = Instant::now();
    while node.state.session_positions.last(claims.sid) < Some(position) {
        assert!(
            started.elapsed() < DELIVERY_TIMEOUT,
            "{}: {position} never reached {}",
            command.what,
            node.addr
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The ways a command and the next read can land: on one node, or on two nodes sharing the
/// database and NATS (node B runs no projections: it learns of their progress by polling).
struct Nodes {
    a: TestApp,
    b: TestApp,
}

impl Nodes {
    async fn start(pool: &PgPool) -> Self {
        let a = spawn_app(pool, Options { nats: Some(nats().await), ..Options::default() }).await;
        let b =
            spawn_app(pool, Options { nats: Some(nats().await), projections: false, ..Options::default() })
                .await;
        Self { a, b }
    }

    /// `(writer, reader, name)`: one node, A then B, B then A.
    fn layouts(&self) -> [(&TestApp, &TestApp, &'static str); 3] {
        [
            (&self.a, &self.a, "one node"),
            (&self.a, &self.b, "write on A, read on B"),
            (&self.b, &self.a, "write on B, read on A"),
        ]
    }
}

/// A signed-up user, with what the tests here need besides.
struct SignedUp {
    user: User,
    email: String,
    session: Uuid,
    reply: Reply,
}

/// Signs a new user up through `node`.
async fn sign_up(node: &TestApp) -> SignedUp {
    let handle = format!("u{}", unique());
    let email = format!("{handle}@example.com");
    let body = json!({"email": email, "password": PASSWORD, "name": handle, "handle": handle});
    let reply = node.call(Method::POST, "/api/auth/signup", None, Some(&body), None).await;
    reply.created();
    let user = User::from_reply(&reply, PASSWORD);
    let session = user.session_id;
    SignedUp { user, email, session, reply }
}

/// Logs `email` in through `node`: the new session's access token, its id, and the answer.
async fn log_in(node: &TestApp, email: &str) -> (String, Uuid, Reply) {
    let body = json!({"email": email, "password": PASSWORD});
    let reply = node.call(Method::POST, "/api/auth/login", None, Some(&body), None).await;
    let body = reply.expect(200);
    (string(&body["token"]), uuid(&body["sessionId"]), reply)
}

/// The session ids `reply` (a sessions list) names, and the current one.
fn sessions(reply: &Reply) -> (Vec<Uuid>, Option<Uuid>) {
    let data = reply.fresh()["data"].as_array().cloned().expect("a JSON array");
    let ids = data.iter().map(|session| uuid(&session["id"])).collect();
    let current = data.iter().find(|session| session["current"] == true).map(|session| uuid(&session["id"]));
    (ids, current)
}

async fn identity_pairs(pool: &PgPool, writer: &TestApp, reader: &TestApp, layout: &str) {
    // Sign-up starts a session: the first reads with its token wait for the sign-up.
    let stall = Stall::hold(pool).await;
    let SignedUp { user: ada, email, session: first_session, reply } = sign_up(writer).await;
    heard(reader, &ada.token, &reply).await;
    let replies = stall
        .release_after(
            layout,
            vec![
                read(reader, &ada.token, &format!("/api/users/{}", ada.id)),
                read(reader, &ada.token, "/api/auth/sessions"),
            ],
        )
        .await;
    assert_eq!(uuid(&replies[0].fresh()["id"]), ada.id, "{layout}: sign-up → profile");
    let listed = sessions(&replies[1]);
    assert_eq!(listed, (vec![first_session], Some(first_session)), "{layout}: sign-up → sessions");

    // Login starts another session: its first read lists it.
    let stall = Stall::hold(pool).await;
    let (token, second_session, reply) = log_in(writer, &email).await;
    let refresh = string(&reply.body["refreshToken"]);
    heard(reader, &token, &reply).await;
    let replies = stall.release_after(layout, vec![read(reader, &token, "/api/auth/sessions")]).await;
    let (listed, current) = sessions(&replies[0]);
    assert_eq!(listed.len(), 2, "{layout}: login → sessions: {}", replies[0].text);
    assert_eq!(current, Some(second_session), "{layout}: login → sessions");

    // A profile change.
    let stall = Stall::hold(pool).await;
    let patch = json!({"bio": format!("bio {layout}"), "location": "Lisbon"});
    let path = format!("/api/users/{}/profile", ada.id);
    let reply = writer.call(Method::PATCH, &path, Some(&token), Some(&patch), None).await;
    reply.expect(200);
    heard(reader, &token, &reply).await;
    let replies =
        stall.release_after(layout, vec![read(reader, &token, &format!("/api/users/{}", ada.id))]).await;
    let profile = replies[0].fresh();
    assert_eq!(profile["bio"], format!("bio {layout}"), "{layout}: profile patch → profile");
    assert_eq!(profile["location"], "Lisbon", "{layout}: profile patch → profile");

    // Settings are read from the account itself: right at once, even with projections held back.
    let stall = Stall::hold(pool).await;
    let wanted = json!({"privacy": "friends", "notifications": false, "darkMode": true});
    let path = format!("/api/users/{}/settings", ada.id);
    writer.call(Method::PUT, &path, Some(&token), Some(&wanted), None).await.expect(200);
    let settings = reader.call(Method::GET, &path, Some(&token), None, None).await;
    stall.release().await;
    assert_eq!(settings.expect(200), &wanted, "{layout}: settings → settings");

    // Ending another session.
    let stall = Stall::hold(pool).await;
    let path = format!("/api/auth/sessions/{first_session}");
    let reply = writer.call(Method::DELETE, &path, Some(&token), None, None).await;
    reply.expect(204);
    heard(reader, &token, &reply).await;
    let replies = stall.release_after(layout, vec![read(reader, &token, "/api/auth/sessions")]).await;
    assert_eq!(sessions(&replies[0]).0, vec![second_session], "{layout}: revoke → sessions");

    // A refresh continues the session: its reads see it used.
    let before = reader.get_at(&token, "/api/auth/sessions", None).await;
    let used_before = string(&before.expect(200)["data"][0]["lastUsedAt"]);
    let stall = Stall::hold(pool).await;
    let body = json!({"refreshToken": refresh});
    let reply = writer.call(Method::POST, "/api/auth/refresh", None, Some(&body), None).await;
    let token = string(&reply.expect(200)["token"]);
    heard(reader, &token, &reply).await;
    let replies = stall.release_after(layout, vec![read(reader, &token, "/api/auth/sessions")]).await;
    let used_after = string(&replies[0].fresh()["data"][0]["lastUsedAt"]);
    assert!(used_after > used_before, "{layout}: refresh → sessions: {used_before} then {used_after}");

    // A password change ends every session and starts one: the new one's read lists only it.
    let stall = Stall::hold(pool).await;
    let body = json!({"currentPassword": PASSWORD, "newPassword": format!("{PASSWORD} again")});
    let reply = writer.call(Method::POST, "/api/auth/change-password", Some(&token), Some(&body), None).await;
    let (new_token, new_session) = (string(&reply.expect(200)["token"]), uuid(&reply.body["sessionId"]));
    heard(reader, &new_token, &reply).await;
    let replies = stall.release_after(layout, vec![read(reader, &new_token, "/api/auth/sessions")]).await;
    assert_eq!(sessions(&replies[0]).0, vec![new_session], "{layout}: change-password → sessions");

    // Logging out ends the session: its very next read, on any node, is refused at once, with
    // the projections still held back.
    let SignedUp { user: bob, .. } = sign_up(writer).await;
    let stall = Stall::hold(pool).await;
    let reply = writer.call(Method::POST, "/api/auth/logout", Some(&bob.token), None, None).await;
    reply.expect(204);
    let after = reader.get_at(&bob.token, "/api/auth/sessions", None).await;
    stall.release().await;
    assert_eq!(
        (after.status, after.body["code"].as_str()),
        (401, Some("session_ended")),
        "{layout}: logout → read"
    );

    // Signing in by phone creates the account and a session: its first reads wait for both.
    let digits: String = Uuid::now_v7().as_u128().to_string().chars().rev().take(6).collect();
    let phone = format!("+4477009{digits}");
    let body = json!({"phoneNumber": phone});
    writer.call(Method::POST, "/api/auth/send-code", None, Some(&body), None).await.expect(202);
    let sms = writer.sms.wait_for(&phone, DELIVERY_TIMEOUT).await.expect("no SMS");
    let code: String = sms.text.chars().take(6).collect();
    let stall = Stall::hold(pool).await;
    let body = json!({"phoneNumber": phone, "code": code});
    let reply = writer.call(Method::POST, "/api/auth/verify-phone", None, Some(&body), None).await;
    let signed_in = reply.expect(200);
    let (phone_token, phone_user) = (string(&signed_in["token"]), uuid(&signed_in["user"]["id"]));
    let phone_session = uuid(&signed_in["sessionId"]);
    heard(reader, &phone_token, &reply).await;
    let replies = stall
        .release_after(
            layout,
            vec![
                read(reader, &phone_token, &format!("/api/users/{phone_user}")),
                read(reader, &phone_token, "/api/auth/sessions"),
            ],
        )
        .await;
    assert_eq!(uuid(&replies[0].fresh()["id"]), phone_user, "{layout}: verify-phone → profile");
    assert_eq!(sessions(&replies[1]).0, vec![phone_session], "{layout}: verify-phone → sessions");

    // An admin changes a role: the admin's next read shows it.
    let mut admin = sign_up(writer).await.user;
    writer.promote(&mut admin, Role::Admin).await;
    let stall = Stall::hold(pool).await;
    let path = format!("/api/admin/users/{phone_user}/role");
    let body = json!({"role": "verified"});
    let reply = writer.call(Method::PUT, &path, Some(&admin.token), Some(&body), None).await;
    reply.expect(200);
    heard(reader, &admin.token, &reply).await;
    let profile = format!("/api/users/{phone_user}");
    let replies = stall.release_after(layout, vec![read(reader, &admin.token, &profile)]).await;
    assert_eq!(replies[0].fresh()["verified"], true, "{layout}: role change → profile's badge");
}

async fn looppay_pairs(pool: &PgPool, writer: &TestApp, reader: &TestApp, layout: &str) {
    let ada = writer.signup().await;
    let bob = writer.signup().await;

    // A top-up: the balance, the statement and the top-up itself.
    let stall = Stall::hold(pool).await;
    let reply = writer.top_up(&ada, 5000, None).await;
    let top_up_id = uuid(&reply.created()["topUpId"]);
    heard(reader, &ada.token, &reply).await;
    let reads = vec![
        read(reader, &ada.token, "/api/looppay/balance"),
        read(reader, &ada.token, "/api/looppay/transactions"),
        read(reader, &ada.token, &format!("/api/looppay/topups/{top_up_id}")),
    ];
    let replies = stall.release_after(layout, reads).await;
    assert_eq!(int(&replies[0].fresh()["available"]), 5000, "{layout}: top-up → balance");
    assert_eq!(replies[1].fresh()["data"][0]["type"], "top_up", "{layout}: top-up → transactions");
    assert_eq!(replies[2].fresh()["status"], "confirmed", "{layout}: top-up → top-up");

    // A transfer: the sender's balance and statement.
    let stall = Stall::hold(pool).await;
    let reply = writer.transfer(&ada, bob.id, 1200, Some("lunch"), None).await;
    let transaction_id = string(&reply.created()["entryId"]);
    heard(reader, &ada.token, &reply).await;
    let reads = vec![
        read(reader, &ada.token, "/api/looppay/balance"),
        read(reader, &ada.token, "/api/looppay/transactions?type=transfer"),
    ];
    let replies = stall.release_after(layout, reads).await;
    assert_eq!(int(&replies[0].fresh()["available"]), 3800, "{layout}: transfer → balance");
    let row = &replies[1].fresh()["data"][0];
    assert_eq!(row["entryId"], transaction_id, "{layout}: transfer → transactions");
    assert_eq!(row["type"], "transfer_sent", "{layout}: transfer → transactions");

    // A payment: the payment and the payer's balance.
    let stall = Stall::hold(pool).await;
    let reply = writer.pay(&ada, &bob.id.to_string(), 1000, &format!("order:{}", Uuid::now_v7()), None).await;
    let payment_id = uuid(&reply.created()["paymentId"]);
    heard(reader, &ada.token, &reply).await;
    let reads = vec![
        read(reader, &ada.token, &format!("/api/looppay/payments/{payment_id}")),
        read(reader, &ada.token, "/api/looppay/balance"),
    ];
    let replies = stall.release_after(layout, reads).await;
    assert_eq!(replies[0].fresh()["status"], "paid", "{layout}: pay → payment");
    assert_eq!(int(&replies[1].fresh()["available"]), 2800, "{layout}: pay → balance");

    // A refund by the payee: the payment's refunded amount and the payee's balance.
    let stall = Stall::hold(pool).await;
    let reply = writer.refund(&bob, payment_id, Some(400), None).await;
    reply.created();
    heard(reader, &bob.token, &reply).await;
    let reads = vec![
        read(reader, &bob.token, &format!("/api/looppay/payments/{payment_id}")),
        read(reader, &bob.token, "/api/looppay/balance"),
    ];
    let replies = stall.release_after(layout, reads).await;
    assert_eq!(int(&replies[0].fresh()["refunded"]), 400, "{layout}: refund → payment");
    assert_eq!(int(&replies[1].fresh()["available"]), 1200 + 1000 - 400, "{layout}: refund → balance");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn identity_commands_are_reflected_by_the_sessions_next_read_on_any_node(pool: PgPool) {
    let nodes = Nodes::start(&pool).await;
    for (writer, reader, layout) in nodes.layouts() {
        identity_pairs(&pool, writer, reader, layout).await;
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn looppay_commands_are_reflected_by_the_sessions_next_read_on_any_node(pool: PgPool) {
    let nodes = Nodes::start(&pool).await;
    for (writer, reader, layout) in nodes.layouts() {
        looppay_pairs(&pool, writer, reader, layout).await;
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn without_the_session_memory_the_read_right_after_a_write_is_stale(pool: PgPool) {
    let off = SessionConsistencyConfig { enabled: false, ..SessionConsistencyConfig::default() };
    let mut options = Options::default().with_nats(nats().await);
    options.config.session_consistency = off;
    let app = spawn_app(&pool, options).await;
    let ada = app.signup().await;
    app.caught_up().await;

    let stall = Stall::hold(&pool).await;
    let position = app.top_up(&ada, 5000, None).await.pos();
    let plain = app.get_at(&ada.token, "/api/looppay/balance", None).await;
    // The header still works, for the clients that send it.
    let named = read_at(&app, &ada.token, "/api/looppay/balance", Some(&position));
    let replies = stall.release_after("switched off, naming the position", vec![named]).await;

    assert_eq!(plain.expect(200)["available"], 0, "answered at once, from the read model as it was");
    assert_eq!(plain.consistency, None, "it waited for nothing");
    assert_eq!(int(&replies[0].fresh()["available"]), 5000);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn another_session_of_the_same_user_waits_only_for_positions_it_names(pool: PgPool) {
    let nodes = Nodes::start(&pool).await;
    let SignedUp { user: phone, email, .. } = sign_up(&nodes.a).await;
    let (laptop, _, _) = log_in(&nodes.a, &email).await;
    nodes.a.caught_up().await;

    let stall = Stall::hold(&pool).await;
    let reply = nodes.a.top_up(&phone, 700, None).await;
    let position = reply.pos();
    heard(&nodes.b, &phone.token, &reply).await;
    // The laptop's session did not make the top-up: its reads do not wait for it (they are
    // fresh as to the laptop's own commands, its login here, if they say anything).
    for node in [&nodes.a, &nodes.b] {
        let other = node.get_at(&laptop, "/api/looppay/balance", None).await;
        assert_eq!(other.expect(200)["available"], 0, "{}", other.what);
        assert_ne!(other.consistency.as_deref(), Some("stale"), "{}", other.what);
    }
    // Naming the phone's position, it waits for it: consistency across sessions is the header's.
    let reads = vec![
        read_at(&nodes.b, &laptop, "/api/looppay/balance", Some(&position)),
        read(&nodes.b, &phone.token, "/api/looppay/balance"),
    ];
    let replies = stall.release_after("the phone's position", reads).await;
    assert_eq!(int(&replies[0].fresh()["available"]), 700, "the laptop, naming the position");
    assert_eq!(int(&replies[1].fresh()["available"]), 700, "the phone's own read");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_read_waits_for_the_later_of_its_header_and_its_sessions_position(pool: PgPool) {
    let nodes = Nodes::start(&pool).await;
    let ada = nodes.a.signup().await;
    let bob = nodes.a.signup().await;
    let early = nodes.a.top_up(&bob, 100, None).await.pos();
    nodes.a.caught_up().await;

    // An older header does not cut the wait for the session's own later command short.
    let stall = Stall::hold(&pool).await;
    let reply = nodes.a.top_up(&ada, 300, None).await;
    heard(&nodes.b, &ada.token, &reply).await;
    let reads = vec![read_at(&nodes.b, &ada.token, "/api/looppay/balance", Some(&early))];
    let replies = stall.release_after("an older header", reads).await;
    assert_eq!(int(&replies[0].fresh()["available"]), 300);

    // A later header (another user's transfer to Ada) is waited for beyond the session's own.
    let stall = Stall::hold(&pool).await;
    let later = nodes.a.transfer(&bob, ada.id, 50, None, None).await.pos();
    let reads = vec![read_at(&nodes.b, &ada.token, "/api/looppay/balance", Some(&later))];
    let replies = stall.release_after("a later header", reads).await;
    assert_eq!(int(&replies[0].fresh()["available"]), 350);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_position_every_projection_passed_is_forgotten_on_every_node(pool: PgPool) {
    let nodes = Nodes::start(&pool).await;
    let SignedUp { user: ada, session, .. } = sign_up(&nodes.a).await;
    let reply = nodes.a.top_up(&ada, 100, None).await;
    for node in [&nodes.a, &nodes.b] {
        heard(node, &ada.token, &reply).await;
    }

    // Once the projections pass it, every node forgets it within its next sweep (one a second).
    nodes.a.caught_up().await;
    let started = Instant::now();
    for node in [&nodes.a, &nodes.b] {
        while node.state.session_positions.last(session).is_some() {
            assert!(started.elapsed() < Duration::from_secs(10), "still remembered on {}", node.addr);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Nothing left to wait for: the next read answers at once, with the top-up in it.
    let reply = nodes.b.get_at(&ada.token, "/api/looppay/balance", None).await;
    assert_eq!(int(&reply.expect(200)["available"]), 100);
    assert_eq!(reply.consistency, None);
}
