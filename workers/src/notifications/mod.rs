//! The notifications' background job: new notifications are pushed to their recipient's
//! devices ([`push`]).

pub mod push;
