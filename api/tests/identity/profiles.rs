//! Profiles, handles, settings and user search.

use futures::future::join_all;
use loopync_testkit::{
    Options, PASSWORD, Reply, TestApp, User, assert_invalid_field, assert_problem, event_count,
    expect_status, spawn_app, uuid,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeSet;
use uuid::Uuid;

/// PATCHes `user`'s own profile; the raw answer.
async fn patch_profile(app: &TestApp, user: &User, body: &Value) -> Reply {
    app.patch_as(&user.token, &format!("/api/users/{}/profile", user.id), body).await
}

/// `id`'s public profile as `reader` sees it once the read model reached `position`.
async fn public_profile(app: &TestApp, reader: &User, id: Uuid, position: Option<&str>) -> Value {
    let response = app.get_at(&reader.token, &format!("/api/users/{id}"), position).await;
    if position.is_some() {
        assert_eq!(response.header("loopync-consistency").as_deref(), Some("fresh"));
    }
    expect_status(response, 200)
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn an_own_profile_change_shows_in_the_public_profile_without_private_fields(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    let grace = app.signup_named("grace@example.com", "grace").await;

    let response = patch_profile(
        &app,
        &ada,
        &json!({
            "name": "Ada Lovelace",
            "bio": "First programmer.\nAnalyst.",
            "website": "https://ada.example.com",
            "location": "London",
            "avatar": "/api/media/abc123",
            "handle": "Countess",
        }),
    )
    .await;
    let position = response.header("loopync-position");
    assert!(position.is_some(), "a change answers its position");
    let own = expect_status(response, 200);
    assert_eq!(own["handle"], "countess");
    assert_eq!(own["name"], "Ada Lovelace");
    assert_eq!(own["email"], "ada@example.com", "the owner's view has the email");

    let public = public_profile(&app, &grace, ada.id, position.as_deref()).await;
    assert_eq!(uuid(&public["id"]), ada.id);
    assert_eq!(public["handle"], "countess");
    assert_eq!(public["name"], "Ada Lovelace");
    assert_eq!(public["bio"], "First programmer.\nAnalyst.");
    assert_eq!(public["website"], "https://ada.example.com");
    assert_eq!(public["location"], "London");
    assert_eq!(public["avatar"], "/api/media/abc123");
    assert_eq!(public["verified"], false);
    assert_eq!(public["private"], false);
    assert!(public["createdAt"].is_string());
    let keys: BTreeSet<&str> =
        public.as_object().map(|o| o.keys().map(String::as_str).collect()).expect("a JSON object");
    for private in ["email", "emailVerified", "phoneNumber", "phone", "settings", "passwordHash", "role"] {
        assert!(!keys.contains(private), "{private} in the public view: {public}");
    }
    let text = public.to_string();
    assert!(!text.contains("ada@example.com"), "{text}");

    // Absent fields stay; `null` clears an optional one; other fields are untouched.
    let response = patch_profile(&app, &ada, &json!({"bio": null})).await;
    let position = response.header("loopync-position");
    let own = expect_status(response, 200);
    assert!(own["bio"].is_null(), "{own}");
    assert_eq!(own["website"], "https://ada.example.com");
    let public = public_profile(&app, &grace, ada.id, position.as_deref()).await;
    assert!(public["bio"].is_null(), "{public}");
    assert_eq!(public["name"], "Ada Lovelace");
    assert_eq!(public["handle"], "countess");

    // An unknown user.
    let response = app.get_as(&grace.token, &format!("/api/users/{}", Uuid::now_v7())).await;
    assert_problem(response, 404, "user_not_found");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn invalid_profile_fields_are_400_naming_the_field_and_change_nothing(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    let before = event_count(&pool).await;
    let cases = [
        (json!({"website": "javascript:x"}), "website"),
        (json!({"website": "https://"}), "website"),
        (json!({"website": "https://a b.com"}), "website"),
        (json!({"avatar": "ftp://x.com/a.png"}), "avatar"),
        (json!({"coverPhoto": "javascript:alert(1)"}), "coverPhoto"),
        (json!({"bio": "b".repeat(501)}), "bio"),
        (json!({"location": "tab\there"}), "location"),
        (json!({"name": ""}), "name"),
        (json!({"handle": "a-b"}), "handle"),
        (json!({"handle": "ab"}), "handle"),
        (json!({"email": "new@example.com"}), "email"),
        (json!({"role": "admin"}), "role"),
    ];
    for (body, field) in cases {
        let response = patch_profile(&app, &ada, &body).await;
        assert_invalid_field(response, field);
        assert_eq!(event_count(&pool).await, before, "{body}: nothing written");
    }
    let me = expect_status(app.get_as(&ada.token, "/api/users/me").await, 200);
    assert_eq!(me["handle"], "ada");
    assert!(me["website"].is_null());
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_handle_change_frees_the_old_handle_and_claims_the_new_one(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    let grace = app.signup_named("grace@example.com", "grace").await;

    expect_status(patch_profile(&app, &ada, &json!({"handle": "countess"})).await, 200);
    // The new handle is Ada's, in any case, for sign-ups and for changes.
    assert_problem(patch_profile(&app, &grace, &json!({"handle": "Countess"})).await, 409, "handle_taken");
    let response = app
        .post(
            "/api/auth/signup",
            &json!({"email": "eve@example.com", "password": "correct horse battery", "name": "Eve", "handle": "countess"}),
        )
        .await;
    assert_problem(response, 409, "handle_taken");

    // The old one is free: Grace takes it.
    let response = patch_profile(&app, &grace, &json!({"handle": "ada"})).await;
    let position = response.header("loopync-position");
    let body = expect_status(response, 200);
    assert_eq!(body["handle"], "ada");
    let public = public_profile(&app, &ada, grace.id, position.as_deref()).await;
    assert_eq!(public["handle"], "ada");
    let public = public_profile(&app, &grace, ada.id, position.as_deref()).await;
    assert_eq!(public["handle"], "countess");
    // Grace's old handle is free in turn.
    app.signup_named("eve@example.com", "grace").await;
    // Setting one's own handle again (any case) is no change, not a conflict.
    expect_status(patch_profile(&app, &ada, &json!({"handle": "COUNTESS"})).await, 200);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn two_users_racing_for_one_free_handle_let_exactly_one_win(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(app.signup_named(&format!("racer{i}@example.com"), &format!("racer{i}")).await);
    }
    for round in 0..3 {
        let handle = format!("prize{round}");
        let patches = users.iter().map(|user| {
            let body = json!({"handle": handle});
            let app = &app;
            async move { (user.id, patch_profile(app, user, &body).await) }
        });
        let mut winners = Vec::new();
        for (id, response) in join_all(patches).await {
            if response.status == 200 {
                winners.push(id);
            } else {
                assert_problem(response, 409, "handle_taken");
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let owners: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE event_type = 'account.handle_changed' AND payload->>'to' = $1",
        )
        .bind(&handle)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(owners, 1);
        // Let the losers get their handles back for the next round: only the winner moved.
        let winner = users.iter().find(|u| u.id == winners[0]).cloned().expect("winner");
        expect_status(patch_profile(&app, &winner, &json!({"handle": winner.handle})).await, 200);
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn two_devices_patching_different_settings_at_once_both_keep_their_change(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    let phone = app.login_ok("ada@example.com", PASSWORD).await;
    let path = format!("/api/users/{}/settings", ada.id);
    let dark = json!({"darkMode": true});
    let private = json!({"privacy": "private"});
    let (laptop, mobile) =
        tokio::join!(app.patch_as(&ada.token, &path, &dark), app.patch_as(&phone.token, &path, &private));
    expect_status(laptop, 200);
    expect_status(mobile, 200);
    let settings = expect_status(app.get_as(&ada.token, &path).await, 200);
    assert_eq!(settings, json!({"privacy": "private", "notifications": true, "darkMode": true}));

    // An empty change changes nothing; a bad value is named.
    let before = event_count(&pool).await;
    expect_status(app.patch_as(&ada.token, &path, &json!({})).await, 200);
    assert_invalid_field(app.patch_as(&ada.token, &path, &json!({"privacy": "everyone"})).await, "privacy");
    assert_eq!(event_count(&pool).await, before);
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn own_settings_are_read_and_replaced(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    let path = format!("/api/users/{}/settings", ada.id);
    let defaults = expect_status(app.get_as(&ada.token, &path).await, 200);
    assert_eq!(defaults, json!({"privacy": "public", "notifications": true, "darkMode": false}));

    let wanted = json!({"privacy": "friends", "notifications": false, "darkMode": true});
    let response = app.put_as(&ada.token, &path, &wanted).await;
    assert!(response.header("loopync-position").is_some());
    assert_eq!(expect_status(response, 200), wanted);
    assert_eq!(expect_status(app.get_as(&ada.token, &path).await, 200), wanted);
    let me = expect_status(app.get_as(&ada.token, "/api/users/me").await, 200);
    assert_eq!(me["settings"], wanted);

    let before = event_count(&pool).await;
    for (body, field) in [
        (json!({"privacy": "everyone", "notifications": true, "darkMode": false}), "privacy"),
        (json!({"privacy": "public", "notifications": true}), "darkMode"),
        (json!({"privacy": "public", "notifications": "yes", "darkMode": false}), "notifications"),
        (json!({"privacy": "public", "notifications": true, "darkMode": false, "extra": 1}), "extra"),
    ] {
        assert_invalid_field(app.put_as(&ada.token, &path, &body).await, field);
    }
    assert_eq!(event_count(&pool).await, before);
    assert_eq!(expect_status(app.get_as(&ada.token, &path).await, 200), wanted);
}

/// Search results' ids and the page's next cursor.
async fn search(app: &TestApp, user: &User, query: &str) -> (Vec<Uuid>, Option<String>, Value) {
    let response = app
        .execute(app.client.get(app.url("/api/users/search")).query(&[("q", query)]).bearer_auth(&user.token))
        .await;
    let body = expect_status(response, 200);
    let ids =
        body["data"].as_array().map(|d| d.iter().map(|u| uuid(&u["id"])).collect()).expect("a JSON array");
    let next = body["pagination"]["nextCursor"].as_str().map(str::to_owned);
    (ids, next, body)
}

async fn search_raw(app: &TestApp, user: &User, query: &[(&str, &str)]) -> Reply {
    app.execute(app.client.get(app.url("/api/users/search")).query(query).bearer_auth(&user.token)).await
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn search_finds_by_handle_prefix_and_name_and_pages_without_duplicates(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let reader = app.signup_named("reader@example.com", "reader").await;
    let mut pagers = BTreeSet::new();
    for i in 0..7 {
        pagers.insert(app.signup_named(&format!("pager{i}@example.com"), &format!("pager{i}")).await.id);
    }
    let grace = app
        .post(
            "/api/auth/signup",
            &json!({"email": "grace@example.com", "password": "correct horse battery", "name": "Grace Hopper", "handle": "gh_cobol"}),
        )
        .await;
    let position = grace.header("loopync-position");
    let grace = expect_status(grace, 201);
    let grace_id = uuid(&grace["user"]["id"]);
    // Wait (once) for the read model to reach the last sign-up; search reads the same table.
    public_profile(&app, &reader, grace_id, position.as_deref()).await;

    let (ids, _, body) = search(&app, &reader, "gh_co").await;
    assert_eq!(ids, vec![grace_id], "handle prefix: {body}");
    let (ids, _, body) = search(&app, &reader, "grace").await;
    assert_eq!(ids, vec![grace_id], "name prefix: {body}");
    assert!(!body.to_string().contains("grace@example.com"), "no emails in results: {body}");
    let (ids, _, _) = search(&app, &reader, "  @GRACE ").await;
    assert_eq!(ids, vec![grace_id], "a leading @, spaces and case are ignored");

    // Pages of 3: every pager once, then no cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut query = vec![("q", "pager".to_owned()), ("limit", "3".to_owned())];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = expect_status(search_raw(&app, &reader, &query).await, 200);
        let page: Vec<Uuid> = body["data"]
            .as_array()
            .map(|d| d.iter().map(|u| uuid(&u["id"])).collect())
            .expect("a JSON array");
        assert!(page.len() <= 3, "{body}");
        assert_eq!(body["pagination"]["limit"], 3);
        seen.extend(page);
        cursor = body["pagination"]["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert!(cursor.is_none(), "paging ends");
    let unique: BTreeSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates: {seen:?}");
    assert_eq!(unique, pagers, "every pager, nobody else");
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn malformed_searches_are_400_naming_the_parameter(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let reader = app.signup_named("reader@example.com", "reader").await;
    // The read model exists once it reached the sign-up (the runner creates its tables).
    public_profile(&app, &reader, reader.id, reader.position.as_deref()).await;
    let long = "q".repeat(101);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("q", "")], "q"),
        (vec![("q", "   ")], "q"),
        (vec![("q", "@")], "q"),
        (vec![("q", long.as_str())], "q"),
        (vec![], "q"),
        (vec![("q", "ada"), ("limit", "0")], "limit"),
        (vec![("q", "ada"), ("limit", "101")], "limit"),
        (vec![("q", "ada"), ("limit", "-1")], "limit"),
        (vec![("q", "ada"), ("limit", "ten")], "limit"),
        (vec![("q", "ada"), ("cursor", "bad")], "cursor"),
        (vec![("q", "ada"), ("cursor", "12.not-a-uuid")], "cursor"),
    ];
    for (query, field) in cases {
        assert_invalid_field(search_raw(&app, &reader, &query).await, field);
    }
    // The bounds themselves are fine.
    for limit in ["1", "100"] {
        expect_status(search_raw(&app, &reader, &[("q", "ada"), ("limit", limit)]).await, 200);
    }
}

/// PATCH changes only the fields it names: two PATCHes of different fields, at once, must
/// both land.
#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn concurrent_patches_of_different_fields_both_land(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup_named("ada@example.com", "ada").await;
    for round in 0..5 {
        let bio = json!({"bio": format!("bio {round}")});
        let website = json!({"website": format!("https://ada.example.com/{round}")});
        let location = json!({"location": format!("London {round}")});
        let (a, b, c) = tokio::join!(
            patch_profile(&app, &ada, &bio),
            patch_profile(&app, &ada, &website),
            patch_profile(&app, &ada, &location),
        );
        for response in [a, b, c] {
            expect_status(response, 200);
        }
        let me = expect_status(app.get_as(&ada.token, "/api/users/me").await, 200);
        assert_eq!(me["bio"], format!("bio {round}"), "round {round}: {me}");
        assert_eq!(me["website"], format!("https://ada.example.com/{round}"), "round {round}: {me}");
        assert_eq!(me["location"], format!("London {round}"), "round {round}: {me}");
    }
}

#[sqlx::test(migrator = "loopync_schemas::MIGRATOR")]
async fn a_private_profile_shows_others_its_card_and_is_found_only_by_its_exact_handle(pool: PgPool) {
    let app = spawn_app(&pool, Options::default()).await;
    let ada = app.signup_named("ada@example.com", "countess_ada").await;
    let grace = app.signup_named("grace@example.com", "grace").await;
    let patch =
        json!({"bio": "Poet of numbers.", "location": "London", "website": "https://ada.example.com"});
    app.patch_as(&ada.token, &format!("/api/users/{}/profile", ada.id), &patch).await.expect(200);
    for privacy in ["private", "friends"] {
        let reply = app
            .patch_as(&ada.token, &format!("/api/users/{}/settings", ada.id), &json!({"privacy": privacy}))
            .await;
        let position = reply.header("loopync-position");
        reply.expect(200);

        // Grace sees the card only.
        let card = public_profile(&app, &grace, ada.id, position.as_deref()).await;
        assert_eq!((card["handle"].as_str(), card["private"].as_bool()), (Some("countess_ada"), Some(true)));
        for hidden in ["bio", "location", "website", "coverPhoto", "createdAt"] {
            assert!(card.get(hidden).is_none_or(Value::is_null), "{privacy}: {hidden} shown: {card}");
        }
        // Ada sees all of hers.
        let own = public_profile(&app, &ada, ada.id, position.as_deref()).await;
        assert_eq!((own["bio"].as_str(), own["private"].as_bool()), (Some("Poet of numbers."), Some(false)));

        // Search: not by name or handle prefix, only by the exact handle (as the card).
        app.caught_up().await;
        for query in ["Ada", "countess", "countess_ad"] {
            let (ids, _, _) = search(&app, &grace, query).await;
            assert!(!ids.contains(&ada.id), "{privacy}: found by {query:?}");
        }
        let (ids, _, body) = search(&app, &grace, "@countess_ada").await;
        assert_eq!(ids, vec![ada.id], "{privacy}: the exact handle finds her");
        assert_eq!(body["data"][0]["private"], true);
        assert!(body["data"][0].get("bio").is_none_or(Value::is_null));
        let (ids, _, _) = search(&app, &ada, "countess").await;
        assert!(ids.contains(&ada.id), "{privacy}: one finds oneself");
    }

    // Public again: whole, and found by name.
    let reply = app
        .patch_as(&ada.token, &format!("/api/users/{}/settings", ada.id), &json!({"privacy": "public"}))
        .await;
    let position = reply.header("loopync-position");
    reply.expect(200);
    app.caught_up().await;
    let whole = public_profile(&app, &grace, ada.id, position.as_deref()).await;
    assert_eq!((whole["bio"].as_str(), whole["private"].as_bool()), (Some("Poet of numbers."), Some(false)));
    let (ids, _, _) = search(&app, &grace, "countess").await;
    assert!(ids.contains(&ada.id));
}
