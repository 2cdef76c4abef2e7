//! LoopPay over HTTP: `/api/looppay/*`.
//!
//! - [`http`]: the endpoints and who may call them.
//! - [`service`]: [`LoopPay`], the use cases (provider, recipient checks, webhook receipts)
//!   over the ledger's movements (decisions of `loopync_domain::looppay`).
//! - [`provider`]: payment providers (development, signed webhook).
//! - [`errors`]: every refusal's status and stable code.
//! - [`amount`]: amounts in request bodies, refused with `invalid_amount`.
//! - [`history`]: a wallet's raw ledger events for owners and auditors.
//! - [`feature`]: LoopPay's descriptor (events, the ledger read model, balance frames, hold
//!   expiry); [`settings`]: its flags and environment variables.

pub mod amount;
pub mod errors;
pub mod feature;
mod history;
pub mod http;
pub mod provider;
mod raw_body;
pub mod service;
pub mod settings;
mod views;

pub use feature::LoopPayFeature;
pub use http::LoopPayApi;
pub use provider::{PaymentProvider, SIGNATURE_HEADER, WebhookProvider};
pub use service::{LoopPay, LoopPayConfig, ProviderChoice};
