//! Values tests read off answers or make up: JSON fields, unique names, keys, instants,
//! positions, the codes in mails and texts.

use chrono::{DateTime, SecondsFormat, Utc};
use loopync_delivery::{Mail, Sms};
use loopync_schemas::Position;
use serde_json::Value;
use uuid::Uuid;

use crate::client::Reply;

/// A JSON string value (panics otherwise).
#[track_caller]
pub fn string(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}")).to_owned()
}

/// A JSON uuid value (panics otherwise).
#[track_caller]
pub fn uuid(value: &Value) -> Uuid {
    let text = string(value);
    Uuid::parse_str(&text).unwrap_or_else(|error| panic!("not a uuid: {value}: {error}"))
}

/// A JSON integer (panics otherwise).
#[track_caller]
pub fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or_else(|| panic!("not an integer: {value}"))
}

/// A fresh unique suffix for emails and handles.
pub fn unique() -> String {
    Uuid::now_v7().simple().to_string()[18..].to_owned()
}

/// A fresh idempotency key.
pub fn key() -> String {
    format!("key-{}", Uuid::now_v7())
}

/// An instant as an RFC 3339 query value (UTC, `Z`, so nothing needs escaping).
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The latest position named by any of `replies` (panics when none names one).
#[track_caller]
pub fn latest(replies: &[Reply]) -> String {
    replies
        .iter()
        .filter_map(|reply| reply.position.as_deref())
        .filter_map(|token| token.parse::<Position>().ok())
        .max()
        .map(|position| position.to_string())
        .expect("a reply that names a position")
}

/// The opaque token in an account mail: what follows `?token=` in its link.
#[track_caller]
pub fn mail_token(mail: &Mail) -> String {
    let (_, rest) = mail.text.split_once("?token=").unwrap_or_else(|| panic!("no link in {:?}", mail.text));
    let token: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    assert!(mail.text.contains(&format!("code in the app: {token}")), "the code matches the link");
    token
}

/// The six-digit code an SMS starts with.
#[track_caller]
pub fn sms_code(sms: &Sms) -> String {
    let code: String = sms.text.chars().take(6).collect();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "no code in {:?}", sms.text);
    code
}
