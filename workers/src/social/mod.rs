//! The social core's background job: ranking snapshots are dropped once no client can still
//! be paging through them ([`snapshot_expiry`]).

pub mod snapshot_expiry;
