//! The notifications read model: what each user is told of, derived from the events that
//! cause it, and what they did with it.
//!
//! - [`read_model`]: [`NotificationsReadModel`], the projection, and its tables
//!   (`notifications/schema.sql`).
//! - [`queries`]: the grouped list, the unread count.
//! - [`frames`]: `notification_created` and `notification_read`.

pub mod frames;
pub mod queries;
pub mod read_model;

pub use frames::{NotificationCreated, NotificationRead};
pub use queries::{GroupCursor, NotificationGroup};
pub use read_model::{NotificationsReadModel, notification_id};
