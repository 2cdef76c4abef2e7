//! Identity: who a user is and how they sign in.
//!
//! - [`values`]: emails, handles, phone numbers, names and roles, each parsed once;
//! - [`account`]: the `Account` aggregate (profile, settings, credentials, verification);
//! - [`session`]: the `Session` aggregate (rotating refresh tokens, revocation);
//! - [`phone_code`]: the `PhoneCode` aggregate (SMS sign-in codes);
//! - [`registration`]: the decisions that touch an account *and* its unique claims — a
//!   sign-up, a handle change — appended atomically, so of two racing sign-ups for one email
//!   or handle exactly one wins.

pub mod account;
pub mod phone_code;
pub mod registration;
pub mod session;
pub mod values;

pub use registration::*;
pub use values::*;
