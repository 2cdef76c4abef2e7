//! The social core from a client's side: friends, follows, blocks, posts, likes, comments.

use crate::accounts::User;
use crate::app::TestApp;
use crate::client::Reply;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

impl TestApp {
    /// `POST /friends/<action>` (`request`, `accept`, `reject`, `cancel`, `block`) about `other`.
    pub async fn friends(&self, user: &User, action: &str, other: &User) -> Reply {
        self.command(&user.token, &format!("/api/friends/{action}"), &json!({"userId": other.id}), None).await
    }

    /// `a` asks `b`, `b` accepts: friends.
    pub async fn befriend(&self, a: &User, b: &User) {
        self.friends(a, "request", b).await.expect(200);
        let accepted = self.friends(b, "accept", a).await;
        assert_eq!(accepted.expect(200)["status"], "friends", "{}", accepted.text);
    }

    /// `follower` follows `followee`.
    pub async fn follow(&self, follower: &User, followee: &User) -> Reply {
        let path = format!("/api/users/{}/follow", followee.id);
        self.call(Method::POST, &path, Some(&follower.token), None, None).await
    }

    /// A new post of `user`'s with `text`, seen by `visibility` (`public`, `friends`, `private`).
    pub async fn post_text(&self, user: &User, text: &str, visibility: &str) -> Reply {
        let body = json!({"text": text, "visibility": visibility});
        self.command(&user.token, "/api/posts", &body, None).await
    }

    /// A new post that must be created: its id.
    pub async fn posted(&self, user: &User, text: &str, visibility: &str) -> Uuid {
        let reply = self.post_text(user, text, visibility).await;
        let id = reply.created()["id"].as_str().unwrap_or_default().to_owned();
        Uuid::parse_str(&id).unwrap_or_else(|_| panic!("a post id: {}", reply.text))
    }

    /// `PUT`, `DELETE` or `POST` (toggle) of `/posts/{id}/like` as `user`.
    pub async fn like(&self, user: &User, method: Method, post: Uuid) -> Reply {
        self.call(method, &format!("/api/posts/{post}/like"), Some(&user.token), None, None).await
    }

    /// A comment of `user`'s on `post`.
    pub async fn comment_on(&self, user: &User, post: Uuid, text: &str, reply_to: Option<Uuid>) -> Reply {
        let body = json!({"text": text, "replyTo": reply_to});
        self.command(&user.token, &format!("/api/posts/{post}/comment"), &body, None).await
    }

    /// A page of `path` (`GET`) as `user`, after waiting for the projections to catch up: its
    /// items' ids, in order.
    pub async fn ids_at(&self, user: &User, path: &str) -> Vec<String> {
        self.caught_up().await;
        let reply = self.get_as(&user.token, path).await;
        ids(reply.expect(200))
    }
}

/// The `id`s of a page's `data`.
pub fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().map_or_else(Vec::new, |items| {
        items.iter().filter_map(|item| item["id"].as_str().map(str::to_owned)).collect()
    })
}
