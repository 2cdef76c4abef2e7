//! Notifications over HTTP: `/api/notifications/*`.
//!
//! - [`http`]: the endpoints ([`NotificationsApi`]): the grouped list, the unread count,
//!   reading, deleting, settings and push devices.
//! - [`errors`]: every refusal's status and stable code.
//! - [`views`]: the request and response bodies.
//! - [`feature`]: the descriptor (the inbox's events, the notifications read model, its frames).

pub mod errors;
pub mod feature;
pub mod http;
pub mod views;

pub use feature::NotificationsFeature;
pub use http::NotificationsApi;
