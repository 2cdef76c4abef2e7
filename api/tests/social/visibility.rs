//! Who sees what, on every read path: the author, a friend, a follower, a stranger, a user the
//! author blocked, and nobody signed in; public, friends-only and private posts.

use crate::read;
use loopync_testkit::{Options, TestApp, User, ids, spawn_app};
use serde_json::json;
use sqlx::PgPool;
use std::collections::BTreeSet;
use uuid::Uuid;

/// Ada and the people around her, and her three posts.
struct Scene {
    ada: User,
    friend: User,
    follower: User,
    stranger: User,
    blocked: User,
    public: Uuid,
    friends_only: Uuid,
    private: Uuid,
}

impl Scene {
    async fn build(app: &TestApp) -> Self {
        let ada = app.signup().await;
        let (friend, follower, stranger, blocked) =
            (app.signup().await, app.signup().await, app.signup().await, app.signup().await);
        app.befriend(&ada, &friend).await;
        app.follow(&follower, &ada).await.expect(204);
        // Blocked after being a friend and a follower: the block ends both.
        app.befriend(&ada, &blocked).await;
        app.follow(&blocked, &ada).await.expect(204);
        let public = app.posted(&ada, "for everyone #scene", "public").await;
        let friends_only = app.posted(&ada, "for friends #scene", "friends").await;
        let private = app.posted(&ada, "for me #scene", "private").await;
        app.comment_on(&blocked, public, "before the block", None).await.created();
        app.comment_on(&friend, public, "from a friend", None).await.created();
        app.friends(&ada, "block", &blocked).await.expect(204);
        Self { ada, friend, follower, stranger, blocked, public, friends_only, private }
    }

    /// Every viewer with the posts they may see, newest first.
    fn viewers(&self) -> Vec<(&'static str, &User, Vec<Uuid>)> {
        let (p, f, x) = (self.public, self.friends_only, self.private);
        vec![
            ("author", &self.ada, vec![x, f, p]),
            ("friend", &self.friend, vec![f, p]),
            ("follower", &self.follower, vec![p]),
            ("stranger", &self.stranger, vec![p]),
            ("blocked", &self.blocked, vec![]),
        ]
    }
}

fn strings(posts: &[Uuid]) -> Vec<String> {
    posts.iter().map(Uuid::to_string).collect()
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn every_read_path_shows_each_viewer_exactly_what_they_may_see(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let scene = Scene::build(&app).await;
    app.caught_up().await;
    let all = [scene.public, scene.friends_only, scene.private];

    for (who, viewer, visible) in scene.viewers() {
        // One post at a time: 200 or exactly the 404 of a post that does not exist.
        for post in all {
            let reply = app.get_as(&viewer.token, &format!("/api/posts/{post}")).await;
            if visible.contains(&post) {
                reply.expect(200);
            } else {
                reply.problem(404, "post_not_found");
            }
            let comments = app.get_as(&viewer.token, &format!("/api/posts/{post}/comments")).await;
            if visible.contains(&post) {
                comments.expect(200);
            } else {
                comments.problem(404, "post_not_found");
            }
        }
        assert_eq!(
            ids(&read(&app, viewer, "/api/hashtags/scene/posts").await),
            strings(&visible),
            "{who}: hashtag"
        );
        let own_posts = app.get_as(&viewer.token, &format!("/api/users/{}/posts", scene.ada.id)).await;
        if who == "blocked" {
            own_posts.problem(404, "user_not_found");
        } else {
            assert_eq!(ids(own_posts.expect(200)), strings(&visible), "{who}: the author's posts");
        }
        // The feed: the author's own, friends' and followees' posts only.
        let feed: Vec<Uuid> = match who {
            "author" | "friend" | "follower" => visible.clone(),
            _ => vec![],
        };
        assert_eq!(ids(&read(&app, viewer, "/api/posts").await), strings(&feed), "{who}: latest feed");
        let mut ranked = ids(&read(&app, viewer, "/api/posts?mode=ranked").await);
        ranked.sort();
        let mut expected = strings(&feed);
        expected.sort();
        assert_eq!(ranked, expected, "{who}: ranked feed");
        // Trending: public posts, never to the blocked.
        let trending: Vec<Uuid> = if who == "blocked" { vec![] } else { vec![scene.public] };
        assert_eq!(
            ids(&read(&app, viewer, "/api/trending/posts").await),
            strings(&trending),
            "{who}: trending"
        );
    }

    // Comments: the blocked user's comment is hidden from the author who blocked them, shown
    // to others.
    let comments_for = |user: &User| {
        let path = format!("/api/posts/{}/comments", scene.public);
        let token = user.token.clone();
        let app = &app;
        async move {
            let page = app.get_as(&token, &path).await.expect(200).clone();
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["author"]["id"].as_str().unwrap().to_owned())
                .collect::<BTreeSet<_>>()
        }
    };
    assert_eq!(comments_for(&scene.ada).await, BTreeSet::from([scene.friend.id.to_string()]));
    assert_eq!(
        comments_for(&scene.stranger).await,
        BTreeSet::from([scene.friend.id.to_string(), scene.blocked.id.to_string()])
    );

    // Nobody signed in sees nothing.
    for path in
        ["/api/posts".to_owned(), format!("/api/posts/{}", scene.public), "/api/trending/posts".to_owned()]
    {
        app.get(&path).await.problem(401, "unauthorized");
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_friends_only_profile_is_whole_to_friends_a_card_to_others_and_found_by_friends(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let scene = Scene::build(&app).await;
    let ada = &scene.ada;
    let settings = json!({"privacy": "friends", "notifications": true, "darkMode": false});
    app.put_as(&ada.token, &format!("/api/users/{}/settings", ada.id), &settings).await.expect(200);

    let path = format!("/api/users/{}", ada.id);
    let to_friend = read(&app, &scene.friend, &path).await;
    assert_eq!(
        (to_friend["private"].clone(), to_friend["relationship"].clone()),
        (json!(false), json!("friends"))
    );
    assert!(to_friend["counts"].is_object());
    let to_stranger = read(&app, &scene.stranger, &path).await;
    assert_eq!(to_stranger["private"], true);
    assert!(to_stranger.get("counts").is_none() && to_stranger.get("bio").is_none(), "{to_stranger}");
    app.get_as(&scene.blocked.token, &path).await.problem(404, "user_not_found");

    // Search by the start of the handle: friends find her; others only by her exact handle.
    let prefix = &ada.handle[..ada.handle.len() - 1];
    let search = |q: &str| format!("/api/users/search?q={q}&limit=100");
    let found = |page: serde_json::Value| ids(&page).contains(&ada.id.to_string());
    assert!(found(read(&app, &scene.friend, &search(prefix)).await), "a friend finds her");
    assert!(!found(read(&app, &scene.stranger, &search(prefix)).await), "a stranger does not");
    assert!(found(read(&app, &scene.stranger, &search(&ada.handle)).await), "by exact handle");
    assert!(!found(read(&app, &scene.blocked, &search(&ada.handle)).await), "never the blocked");

    // Friends' lists follow the profile: shown to friends, hidden from strangers.
    read(&app, &scene.friend, &format!("/api/friends/{}", ada.id)).await;
    app.get_as(&scene.stranger.token, &format!("/api/friends/{}", ada.id))
        .await
        .problem(403, "profile_hidden");
}
