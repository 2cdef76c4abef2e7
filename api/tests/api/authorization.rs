//! The authorization matrix, generated from the OpenAPI document: every operation the product
//! serves is called by an anonymous caller, a signed-out session, a signed-in stranger, the
//! owner of what it names and an admin, and each answer must be what the operation's access
//! rule says. An operation missing from [`access`] fails the test, so a new endpoint joins the
//! matrix the day it appears; no answer is ever a 5xx.

use crate::contract::{operations, product_spec};
use loopync_domain::identity::Role;
use loopync_testkit::{Options, Reply, TestApp, User, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone, signed in or not (sign-up, sign-in, recovery; the provider's signed webhook).
    Public,
    /// Any signed-in user, about themselves or what everyone may see.
    SignedIn,
    /// Only the user the path names (profile, settings) or a party of what it names (a
    /// payment, a top-up, a session): others get 403 or 404.
    Owner,
    /// The owner (or a party), auditors and admins (a wallet's ledger history, a payment).
    OwnerOrAuditor,
    /// Admins only.
    Admin,
}

/// The access rule of every operation, as `METHOD /path` of the OpenAPI document.
fn access(operation: &str) -> Option<Access> {
    use Access::*;
    Some(match operation {
        "POST /auth/signup"
        | "POST /auth/login"
        | "POST /auth/refresh"
        | "POST /auth/forgot-password"
        | "POST /auth/reset-password"
        | "POST /auth/verify-email"
        | "POST /auth/send-code"
        | "POST /auth/verify-phone"
        | "POST /looppay/webhooks/{provider}"
        | "GET /auth/check-handle/{handle}" => Public,
        "GET /auth/me"
        | "POST /auth/logout"
        | "GET /auth/sessions"
        | "POST /auth/change-password"
        | "POST /auth/resend-verification"
        | "GET /users/me"
        | "GET /users/search"
        | "GET /users/{userId}"
        | "GET /users/{userId}/presence"
        | "GET /looppay/balance"
        | "GET /looppay/transactions"
        | "POST /looppay/topup"
        | "POST /looppay/transfer"
        | "POST /looppay/pay"
        | "GET /users/handle/{handle}"
        | "POST /friends/request"
        | "POST /friends/accept"
        | "POST /friends/reject"
        | "POST /friends/cancel"
        | "DELETE /friends/{friendId}"
        | "GET /friends/requests"
        | "GET /friends/suggestions"
        | "POST /friends/block"
        | "DELETE /friends/block/{userId}"
        | "GET /friends/blocked"
        | "GET /friends/{userId}"
        | "GET /friends/{userId}/mutual"
        | "POST /users/{userId}/follow"
        | "DELETE /users/{userId}/follow"
        | "GET /users/{userId}/posts"
        | "GET /users/{userId}/followers"
        | "GET /users/{userId}/following"
        | "POST /posts"
        | "GET /posts"
        | "GET /posts/{postId}"
        | "PUT /posts/{postId}/like"
        | "DELETE /posts/{postId}/like"
        | "POST /posts/{postId}/like"
        | "POST /posts/{postId}/comment"
        | "GET /posts/{postId}/comments"
        | "PUT /posts/{postId}/bookmark"
        | "DELETE /posts/{postId}/bookmark"
        | "GET /bookmarks"
        | "GET /hashtags/{tag}/posts"
        | "GET /trending/hashtags"
        | "GET /trending/posts"
        | "GET /notifications"
        | "GET /notifications/unread-count"
        | "POST /notifications/read-all"
        | "GET /notifications/settings"
        | "PUT /notifications/settings"
        | "POST /notifications/register" => SignedIn,
        "DELETE /auth/sessions/{sessionId}"
        | "PATCH /users/{userId}/profile"
        | "GET /users/{userId}/settings"
        | "PUT /users/{userId}/settings"
        | "PATCH /users/{userId}/settings"
        | "POST /looppay/payments/{paymentId}/refund"
        | "GET /looppay/topups/{topUpId}"
        | "PATCH /posts/{postId}"
        | "DELETE /posts/{postId}"
        | "DELETE /comments/{commentId}"
        | "PATCH /notifications/{id}/read"
        | "DELETE /notifications/{id}" => Owner,
        "GET /looppay/ledger/{walletId}/history" | "GET /looppay/payments/{paymentId}" => OwnerOrAuditor,
        "PUT /admin/users/{userId}/role" => Admin,
        _ => return None,
    })
}

/// Codes that refuse the caller rather than the request.
const AUTHORIZATION_REFUSALS: &[&str] = &["unauthorized", "session_ended", "token_expired", "forbidden"];

fn code(reply: &Reply) -> &str {
    reply.body["code"].as_str().unwrap_or("")
}

/// What the operations name: the owner's resources, and a user whose role the admin changes.
struct World {
    owner: User,
    /// Paid by the owner: the one party who may refund.
    payee: User,
    stranger: User,
    admin: User,
    auditor: User,
    role_target: User,
    payment_id: String,
    top_up_id: String,
    /// A public post of the owner's, and the owner's comment on it.
    post_id: String,
    comment_id: String,
    /// A notification of the owner's (the stranger liked the post).
    notification_id: String,
}

impl World {
    async fn build(app: &TestApp) -> Self {
        let (owner, _) = app.funded(10_000).await;
        // The owner pays the payee: both are parties; refunds are the payee's.
        let payee = app.signup().await;
        let paid = app.pay(&owner, &payee.id.to_string(), 100, "order:1", None).await.created().clone();
        let top_up = app.top_up(&owner, 500, None).await.created().clone();
        let stranger = app.signup().await;
        let mut admin = app.signup().await;
        app.promote(&mut admin, Role::Admin).await;
        let mut auditor = app.signup().await;
        app.promote(&mut auditor, Role::Auditor).await;
        let role_target = app.signup().await;
        let post_id = app.posted(&owner, "Hello from the owner #matrix", "public").await;
        let comment = app.comment_on(&owner, post_id, "and a comment", None).await;
        let comment_id = comment.created()["id"].as_str().unwrap().to_owned();
        app.like(&stranger, Method::PUT, post_id).await.expect(200);
        app.caught_up().await;
        let notifications = app.get_as(&owner.token, "/api/notifications").await;
        let notification_id = notifications.expect(200)["data"][0]["id"].as_str().unwrap().to_owned();
        Self {
            owner,
            payee,
            stranger,
            admin,
            auditor,
            role_target,
            payment_id: paid["paymentId"].as_str().unwrap().to_owned(),
            top_up_id: top_up["topUpId"].as_str().unwrap().to_owned(),
            post_id: post_id.to_string(),
            comment_id,
            notification_id,
        }
    }

    /// Who owns what `operation` names.
    fn owner_of(&self, operation: &str) -> &User {
        if operation.ends_with("/refund") { &self.payee } else { &self.owner }
    }

    /// The path parameter `name` of `operation`, naming the owner's things.
    fn parameter(&self, operation: &str, name: &str) -> String {
        match name {
            "userId" if operation.starts_with("PUT /admin/") => self.role_target.id.to_string(),
            "userId" | "walletId" | "friendId" => self.owner.id.to_string(),
            "postId" => self.post_id.clone(),
            "commentId" => self.comment_id.clone(),
            "id" => self.notification_id.clone(),
            "tag" => "matrix".to_owned(),
            "handle" => self.owner.handle.clone(),
            "sessionId" => self.owner.session_id.to_string(),
            "paymentId" => self.payment_id.clone(),
            "topUpId" => self.top_up_id.clone(),
            "provider" => "dev".to_owned(),
            other => panic!("{operation}: no value for the path parameter {other}"),
        }
    }
}

async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let reply = app.call(method.clone(), path, token, body, None).await;
    assert!(reply.status < 500, "{}: {} {}", reply.what, reply.status, reply.text);
    reply
}

/// A new session of `user`: its access token.
async fn fresh(app: &TestApp, user: &User) -> String {
    app.login_ok(&user.email, &user.password).await.token
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn every_operation_answers_each_kind_of_caller_as_its_access_rule_says(pool: PgPool) {
    let spec = product_spec(&pool).await;
    // With NATS and the gateway: presence is one of the operations.
    let options = Options::default()
        .with_nats(loopync_testkit::nats().await)
        .with_realtime(loopync_api::realtime::RealtimeConfig::default());
    let app = spawn_app(&pool, options).await;
    let world = World::build(&app).await;
    let signed_out = app.signup().await;
    app.call(Method::POST, "/api/auth/logout", Some(&signed_out.token), None, None).await.expect(204);

    let mut unlisted = Vec::new();
    let mut checked = 0;
    for operation in operations(&spec) {
        let name = operation.name.clone();
        let Some(rule) = access(&name) else {
            unlisted.push(name);
            continue;
        };
        let mut body = operation.example.clone();
        // The example's current password might be a caller's: never change a password here.
        if name == "POST /auth/change-password"
            && let Some(body) = &mut body
        {
            body["currentPassword"] = json!("not anybody's password");
        }
        let method = operation.method.clone();
        let url = operation.url(|parameter| world.parameter(&name, parameter));
        let secured = operation.operation["security"].as_array().is_some_and(|schemes| !schemes.is_empty());
        assert_eq!(
            secured,
            rule != Access::Public,
            "{name}: the document's security and the matrix disagree"
        );

        // Anonymous, and a signed-out session.
        let anonymous = call(&app, &method, &url, None, body.as_ref()).await;
        let revoked = call(&app, &method, &url, Some(&signed_out.token), body.as_ref()).await;
        if rule == Access::Public {
            for (who, reply) in [("anonymous", &anonymous), ("a signed-out token", &revoked)] {
                let code = code(reply);
                assert!(!AUTHORIZATION_REFUSALS.contains(&code), "{name}, {who}: {}", reply.text);
            }
        } else {
            assert_eq!((anonymous.status, code(&anonymous)), (401, "unauthorized"), "{name}, anonymous");
            assert_eq!((revoked.status, code(&revoked)), (401, "session_ended"), "{name}, signed out");
        }
        if rule == Access::Public {
            checked += 1;
            continue;
        }

        // Each signed-in caller on a session of their own, so that an operation that ends a
        // session (sign-out, a password change) ends only that one.
        let stranger =
            call(&app, &method, &url, Some(&fresh(&app, &world.stranger).await), body.as_ref()).await;
        let owner =
            call(&app, &method, &url, Some(&fresh(&app, world.owner_of(&name)).await), body.as_ref()).await;
        let auditor =
            call(&app, &method, &url, Some(&fresh(&app, &world.auditor).await), body.as_ref()).await;
        let admin = call(&app, &method, &url, Some(&fresh(&app, &world.admin).await), body.as_ref()).await;
        let refused_as_stranger =
            |reply: &Reply| (reply.status == 403 && code(reply) == "forbidden") || reply.status == 404;
        let allowed = |reply: &Reply| !AUTHORIZATION_REFUSALS.contains(&code(reply));
        match rule {
            Access::Public => unreachable!(),
            Access::SignedIn => {
                for (who, reply) in [("stranger", &stranger), ("owner", &owner), ("admin", &admin)] {
                    assert!(allowed(reply), "{name}, {who}: {} {}", reply.status, reply.text);
                }
            }
            Access::Owner => {
                assert!(allowed(&owner), "{name}, owner: {} {}", owner.status, owner.text);
                assert!(
                    refused_as_stranger(&stranger),
                    "{name}, stranger: {} {}",
                    stranger.status,
                    stranger.text
                );
                assert!(
                    refused_as_stranger(&auditor),
                    "{name}, auditor: {} {}",
                    auditor.status,
                    auditor.text
                );
            }
            Access::OwnerOrAuditor => {
                for (who, reply) in [("owner", &owner), ("auditor", &auditor), ("admin", &admin)] {
                    assert!(allowed(reply), "{name}, {who}: {} {}", reply.status, reply.text);
                }
                assert!(
                    refused_as_stranger(&stranger),
                    "{name}, stranger: {} {}",
                    stranger.status,
                    stranger.text
                );
            }
            Access::Admin => {
                assert!(allowed(&admin), "{name}, admin: {} {}", admin.status, admin.text);
                for (who, reply) in [("stranger", &stranger), ("owner", &owner), ("auditor", &auditor)] {
                    assert_eq!(
                        (reply.status, code(reply)),
                        (403, "forbidden"),
                        "{name}, {who}: {}",
                        reply.text
                    );
                }
            }
        }
        checked += 1;
    }
    assert!(unlisted.is_empty(), "operations missing from the authorization matrix: {unlisted:?}");
    assert!(checked >= 75, "{checked} operations checked");
    // The admin's change (the documented example's role) went through; nobody else's did.
    let token = app.login_ok(&world.role_target.email, &world.role_target.password).await.token;
    let role = app.get_as(&token, "/api/auth/me").await.expect(200)["role"].clone();
    assert_ne!(role, json!("user"), "the admin's role change: {role}");
}
