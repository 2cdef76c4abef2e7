//! The document matches the protocol: every frame type, close code and error code, every
//! `$ref`, every example valid against its schema.

use super::examples::GRACE;
use super::*;
use std::collections::BTreeSet;
use uuid::Uuid;

fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or_else(|| panic!("nothing at {pointer}"))
}

fn object_at<'a>(value: &'a Value, pointer: &str) -> &'a Map<String, Value> {
    at(value, pointer).as_object().unwrap_or_else(|| panic!("{pointer} is not an object"))
}

/// The value a local `$ref` (`#/...`) points to.
fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    reference.strip_prefix('#').and_then(|pointer| document.pointer(pointer))
}

/// Every `$ref` in `value`, with where it is.
fn references(value: &Value, path: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref" {
                    found.push((path.to_owned(), child.as_str().unwrap_or_default().to_owned()));
                } else {
                    references(child, &format!("{path}/{key}"), found);
                }
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                references(child, &format!("{path}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// The component message an operation's message reference ends at (operations point at the
/// channel's messages, which point at the components).
fn component_message_key(document: &Value, reference: &Value) -> String {
    let pointer = reference["$ref"].as_str().unwrap_or_else(|| panic!("not a reference: {reference}"));
    let channel_message = resolve(document, pointer).unwrap_or_else(|| panic!("{pointer} does not resolve"));
    let component = channel_message["$ref"]
        .as_str()
        .unwrap_or_else(|| panic!("{pointer} is not a reference to a component: {channel_message}"));
    let key = component
        .strip_prefix("#/components/messages/")
        .unwrap_or_else(|| panic!("{pointer} points at {component}, not a component message"));
    assert!(resolve(document, component).is_some(), "{component} does not resolve");
    key.to_owned()
}

fn messages_of_type<'a>(document: &'a Value, frame_type: &str) -> Vec<&'a Value> {
    object_at(document, "/components/messages")
        .values()
        .filter(|message| message.pointer("/payload/properties/type/const") == Some(&json!(frame_type)))
        .collect()
}

fn message_key(direction: &str, frame_type: &str) -> String {
    format!("/components/messages/{direction}_{frame_type}")
}

#[test]
fn is_an_asyncapi_3_document_of_this_version() {
    let document = document();
    assert_eq!(document["asyncapi"], "3.0.0");
    assert_eq!(document["info"]["title"], "Loopync realtime");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(at(&document, "/channels/ws/address"), WS_ADDRESS);
    assert_eq!(at(&document, "/servers/local/host"), "localhost:8080");
    assert_eq!(at(&document, "/servers/local/protocol"), "ws");
}

#[test]
fn every_reference_resolves() {
    let document = document();
    let mut found = Vec::new();
    references(&document, "", &mut found);
    assert!(found.len() > 50, "expected references throughout, found {}", found.len());
    for (path, reference) in found {
        assert!(resolve(&document, &reference).is_some(), "{path}: $ref {reference:?} does not resolve");
    }
}

#[test]
fn every_operation_message_is_a_component_message() {
    let document = document();
    let operations = object_at(&document, "/operations");
    assert!(!operations.is_empty());
    for (id, operation) in operations {
        assert_eq!(operation["channel"], json!({ "$ref": "#/channels/ws" }), "{id}");
        let messages = operation["messages"].as_array().unwrap_or_else(|| panic!("{id} has no messages"));
        assert!(!messages.is_empty(), "{id} has no messages");
        let replies = operation.pointer("/reply/messages").and_then(Value::as_array);
        for reference in messages.iter().chain(replies.into_iter().flatten()) {
            let key = component_message_key(&document, reference);
            assert!(document["components"]["messages"].get(&key).is_some(), "{id}: {key}");
        }
    }
}

/// The gateway's point of view: it sends every server frame and receives every client frame,
/// each in exactly one operation.
#[test]
fn the_gateway_sends_server_frames_and_receives_client_frames() {
    let document = document();
    let mut seen = BTreeSet::new();
    for (id, operation) in object_at(&document, "/operations") {
        for reference in operation["messages"].as_array().into_iter().flatten() {
            let key = component_message_key(&document, reference);
            let expected = if key.starts_with("server_") { "send" } else { "receive" };
            assert_eq!(operation["action"], expected, "{id} carries {key}");
            assert!(seen.insert(key.clone()), "{key} is in more than one operation");
        }
    }
    let all: BTreeSet<String> = object_at(&document, "/components/messages").keys().cloned().collect();
    assert_eq!(seen, all, "every message is sent or received by an operation");
}

#[test]
fn every_frame_type_has_a_message() {
    let document = document();
    let server = server_frame_types();
    for (direction, types) in [("server", server.as_slice()), ("client", CLIENT_FRAME_TYPES)] {
        for &frame_type in types {
            assert!(!messages_of_type(&document, frame_type).is_empty(), "no message for {frame_type}");
            let message = at(&document, &message_key(direction, frame_type));
            assert_eq!(message["payload"]["properties"]["type"]["const"], frame_type);
            assert_eq!(message["name"], frame_type);
        }
    }
    let documented = object_at(&document, "/components/messages").len();
    assert_eq!(documented, server.len() + CLIENT_FRAME_TYPES.len(), "no other messages");
}

#[test]
fn the_frame_type_lists_are_the_specs() {
    let server_frame_types = server_frame_types();
    let server: BTreeSet<&str> = server_frame_types.iter().copied().collect();
    let client: BTreeSet<&str> = CLIENT_FRAME_TYPES.iter().copied().collect();
    assert_eq!(server.len(), server_frame_types.len(), "duplicates");
    assert_eq!(client.len(), CLIENT_FRAME_TYPES.len(), "duplicates");
    assert_eq!(
        server,
        BTreeSet::from([
            "ready",
            "resync_required",
            "balance_updated",
            "profile_updated",
            "session_revoked",
            "typing_indicator",
            "user_online",
            "user_offline",
            "signal",
            "token_expiring",
            "authenticated",
            "presence",
            "pong",
            "error",
            "feed_item",
            "notification_created",
            "notification_read",
        ])
    );
    assert_eq!(
        client,
        BTreeSet::from(["auth", "ping", "typing", "presence_subscribe", "presence_unsubscribe", "signal"])
    );
}

#[test]
fn durable_frames_have_a_string_cursor_and_ephemeral_ones_null() {
    let document = document();
    let cursor_type = |frame_type: &str| {
        at(&document, &format!("{}/payload/properties/cursor/type", message_key("server", frame_type)))
            .clone()
    };
    for positioned in ["balance_updated", "profile_updated", "session_revoked", "ready", "resync_required"] {
        assert_eq!(cursor_type(positioned), "string", "{positioned}");
    }
    for ephemeral in [
        "typing_indicator",
        "user_online",
        "user_offline",
        "signal",
        "token_expiring",
        "authenticated",
        "presence",
        "pong",
        "error",
    ] {
        assert_eq!(cursor_type(ephemeral), "null", "{ephemeral}");
    }
    for durable in ["balance_updated", "profile_updated", "session_revoked"] {
        let message = at(&document, &message_key("server", durable));
        assert_eq!(message["tags"], json!([{ "$ref": "#/components/tags/durable" }]), "{durable}");
        let description = message["description"].as_str().unwrap_or_default();
        assert!(description.contains("cursor") && description.contains("replayed on resume"), "{durable}");
    }
}

#[test]
fn the_close_codes_are_documented() {
    let document = document();
    let close_codes = object_at(&document, "/channels/ws/x-close-codes");
    let codes: BTreeSet<&str> = close_codes.keys().map(String::as_str).collect();
    assert_eq!(
        codes,
        BTreeSet::from(["1000", "1001", "1003", "1009", "4001", "4002", "4003", "4004", "4005", "4006"])
    );
    let description = at(&document, "/channels/ws/description").as_str().unwrap_or_default();
    for (code, entry) in close_codes {
        assert!(entry["name"].as_str().is_some_and(|name| !name.is_empty()), "{code}");
        assert!(entry["description"].as_str().is_some_and(|meaning| !meaning.is_empty()), "{code}");
        assert!(description.contains(&format!("`{code}`")), "{code} is not in the channel description");
    }
    let names: Vec<&Value> = ["4001", "4002", "4003", "4004", "4005", "4006"]
        .iter()
        .map(|code| &close_codes[*code]["name"])
        .collect();
    assert_eq!(
        names,
        [
            "unauthorized",
            "token_expired",
            "session_revoked",
            "idle_timeout",
            "slow_consumer",
            "too_many_sockets"
        ]
    );
}

#[test]
fn every_error_code_is_listed() {
    let document = document();
    let codes =
        at(&document, "/components/messages/server_error/payload/properties/data/properties/code/enum");
    let codes: BTreeSet<&str> = codes.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert_eq!(
        codes,
        BTreeSet::from([
            "malformed_frame",
            "unknown_frame_type",
            "frame_too_large",
            "invalid_field",
            "rate_limited",
            "unknown_user",
            "presence_forbidden",
            "target_forbidden",
            "token_user_mismatch",
            "token_invalid",
            "self_target",
        ])
    );
}

#[test]
fn the_query_parameters_are_token_and_since() {
    let document = document();
    let query = at(&document, "/channels/ws/bindings/ws/query");
    assert_eq!(query["type"], "object");
    let parameters: Vec<&str> = object_at(query, "/properties").keys().map(String::as_str).collect();
    assert_eq!(parameters, ["since", "token"]);
    assert!(query.get("required").is_none(), "both are optional: the token may come in an auth frame");
}

#[test]
fn the_description_covers_the_protocol() {
    let document = document();
    let description = at(&document, "/info/description").as_str().unwrap_or_default();
    for needle in [
        "send",
        "receive",
        "since",
        "ready",
        "resync_required",
        "7 days",
        "20 s",
        "60 s",
        "256",
        "4005",
        "16 KiB",
        "frame_too_large",
        "64 KiB",
        "1009",
        "20 frames per second",
        "rate_limited",
        "auth",
    ] {
        assert!(description.contains(needle), "the description does not mention {needle:?}");
    }
}

/// A validator of a message's payload: JSON Schema draft 07, formats (`date-time`) checked.
fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("not a valid schema: {e}\n{schema:#}"))
}

#[test]
fn every_payload_schema_is_json_schema_draft_07() {
    let document = document();
    for (key, message) in object_at(&document, "/components/messages") {
        let schema = &message["payload"];
        if let Err(error) = jsonschema::draft7::meta::validate(schema) {
            panic!("the payload schema of {key} is not draft 07: {error}\n{schema:#}");
        }
    }
}

#[test]
fn every_example_matches_its_payload_schema() {
    let document = document();
    for (key, message) in object_at(&document, "/components/messages") {
        let examples = message["examples"].as_array().unwrap_or_else(|| panic!("{key} has no examples"));
        assert!(!examples.is_empty(), "{key} has no examples");
        let validator = validator(&message["payload"]);
        for example in examples {
            let problems: Vec<String> =
                validator.iter_errors(&example["payload"]).map(|error| error.to_string()).collect();
            assert!(problems.is_empty(), "example {} of {key}: {problems:#?}", example["name"]);
        }
    }
}

/// The client examples are frames the gateway accepts.
#[test]
fn every_client_example_is_accepted() {
    let document = document();
    for (key, message) in object_at(&document, "/components/messages") {
        if !key.starts_with("client_") {
            continue;
        }
        for example in message["examples"].as_array().into_iter().flatten() {
            let frame = example["payload"].to_string();
            if let Err(error) = super::super::protocol::parse(&frame) {
                panic!("example {} of {key} is refused: {error:?}", example["name"]);
            }
        }
    }
}

/// The check catches what it should (the generated schemas are strict), so that the
/// examples test means something.
#[test]
fn the_example_check_finds_mistakes() {
    let document = document();
    let balance = validator(at(&document, "/components/messages/server_balance_updated/payload"));
    let valid = json!({
        "type": "balance_updated",
        "cursor": "1",
        "data": { "available": 1, "held": 0, "currency": "LOOP", "sequence": 1 },
    });
    assert!(balance.is_valid(&valid), "{valid}");

    // Each breaks the valid frame in one way.
    type Mistake = (&'static str, fn(&mut Value));
    let mistakes: [Mistake; 6] = [
        ("null cursor", |frame| frame["cursor"] = Value::Null),
        ("missing field", |frame| {
            frame["data"].as_object_mut().map(|data| data.remove("sequence"));
        }),
        ("fraction", |frame| frame["data"]["available"] = json!(1.5)),
        ("other type", |frame| frame["type"] = json!("balance_update")),
        ("extra field", |frame| frame["data"]["extra"] = json!(1)),
        ("extra envelope field", |frame| frame["extra"] = json!(1)),
    ];
    for (mistake, make) in mistakes {
        let mut wrong = valid.clone();
        make(&mut wrong);
        assert!(!balance.is_valid(&wrong), "{mistake}: {wrong} passed");
    }

    let presence = validator(at(&document, "/components/messages/server_presence/payload"));
    let snapshot = |last_seen: Value| json!({ "type": "presence", "cursor": null, "data": { "userId": GRACE, "status": "online", "lastSeen": last_seen } });
    assert!(presence.is_valid(&snapshot(Value::Null)));
    assert!(!presence.is_valid(&snapshot(json!("yesterday"))), "date-time is checked");
    let subscribe = validator(at(&document, "/components/messages/client_presence_subscribe/payload"));
    let watch =
        |user_ids: Vec<Uuid>| json!({ "type": "presence_subscribe", "data": { "userIds": user_ids } });
    assert!(subscribe.is_valid(&watch(vec![GRACE])));
    assert!(!subscribe.is_valid(&watch(Vec::new())), "at least one user");
    assert!(!subscribe.is_valid(&watch(vec![GRACE; 101])), "at most 100 users");
}
