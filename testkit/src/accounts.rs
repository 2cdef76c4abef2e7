//! People in the tests: signing up, signing in, refreshing, roles, and what the app mails or
//! texts them.

use crate::app::TestApp;
use crate::client::Reply;
use crate::values::{string, unique, uuid};
use loopync_commands::CommandContext;
use loopync_delivery::{Mail, Sms};
use loopync_domain::identity::Role;
use loopync_domain::identity::account::{Account, AccountCommand};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

/// The password of [`TestApp::signup`] and [`TestApp::signup_named`].
pub const PASSWORD: &str = "correct horse battery";

/// How long tests wait for a mail or an SMS.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// A signed-up (or signed-in) user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub handle: String,
    pub password: String,
    pub token: String,
    pub refresh: String,
    pub session_id: Uuid,
    /// `Loopync-Position` of the sign-up or sign-in.
    pub position: Option<String>,
}

impl User {
    /// The user an auth answer (`user`, `token`, `refreshToken`, `sessionId`) describes.
    pub fn from_reply(reply: &Reply, password: &str) -> Self {
        let body = &reply.body;
        Self {
            id: uuid(&body["user"]["id"]),
            email: string(&body["user"]["email"]),
            handle: string(&body["user"]["handle"]),
            password: password.to_owned(),
            token: string(&body["token"]),
            refresh: string(&body["refreshToken"]),
            session_id: uuid(&body["sessionId"]),
            position: reply.position.clone(),
        }
    }
}

impl TestApp {
    /// Signs up someone new (a unique handle, `<handle>@example.com`, [`PASSWORD`]); panics
    /// unless 201.
    pub async fn signup(&self) -> User {
        let handle = format!("u{}", unique());
        self.signup_with(&format!("{handle}@example.com"), &handle, PASSWORD).await
    }

    /// Signs up `email` as `handle` (also the name) with [`PASSWORD`]; panics unless 201.
    pub async fn signup_named(&self, email: &str, handle: &str) -> User {
        self.signup_with(email, handle, PASSWORD).await
    }

    /// Signs up `email` as `handle` (also the name) with `password`; panics unless 201.
    pub async fn signup_with(&self, email: &str, handle: &str, password: &str) -> User {
        let body = json!({"email": email, "password": password, "name": handle, "handle": handle});
        let reply = self.post("/api/auth/signup", &body).await;
        reply.expect(201);
        User::from_reply(&reply, password)
    }

    /// Signs in; the answer.
    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post("/api/auth/login", &json!({"email": email, "password": password})).await
    }

    /// Signs in; panics unless 200.
    pub async fn login_ok(&self, email: &str, password: &str) -> User {
        let reply = self.login(email, password).await;
        reply.expect(200);
        User::from_reply(&reply, password)
    }

    /// Trades a refresh token; the answer.
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post("/api/auth/refresh", &json!({"refreshToken": refresh_token})).await
    }

    /// Sets a user's role directly through the pipeline (there is no bootstrap endpoint), as a
    /// founder would.
    pub async fn set_role(&self, user_id: Uuid, role: Role) {
        self.state
            .pipeline
            .execute::<Account>(
                user_id,
                AccountCommand::ChangeRole { role, by: Role::Founder },
                &CommandContext::actor("tests"),
            )
            .await
            .expect("role change");
    }

    /// Makes `user` a `role` and refreshes its tokens, so the access token carries the role.
    pub async fn promote(&self, user: &mut User, role: Role) {
        self.set_role(user.id, role).await;
        let reply = self.refresh(&user.refresh).await;
        let body: &Value = reply.expect(200);
        user.token = string(&body["token"]);
        user.refresh = string(&body["refreshToken"]);
    }

    /// The next mail to `to` (panics if none arrives).
    pub async fn mail_to(&self, to: &str) -> Mail {
        self.mailer.wait_for(to, DELIVERY_TIMEOUT).await.unwrap_or_else(|| panic!("no mail to {to}"))
    }

    /// The next SMS to `to` (panics if none arrives).
    pub async fn sms_to(&self, to: &str) -> Sms {
        self.sms.wait_for(to, DELIVERY_TIMEOUT).await.unwrap_or_else(|| panic!("no SMS to {to}"))
    }
}
