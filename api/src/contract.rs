//! The parts of the API contract that every operation shares, documented once.
//!
//! poem-openapi documents a parameter with the doc comment of the handler argument that takes
//! it, so a header that twenty handlers take would need twenty copies of its description, and
//! the copies would drift. [`Documented`] wraps the product's APIs and gives every operation's
//! shared parameters — `Idempotency-Key`, `Loopync-Position`, `limit`, `cursor` — the one
//! description written here, unless a handler wrote a more specific one. The rest of the
//! contract lives in its own module: [`crate::timestamp`] (one format for instants),
//! [`crate::refusals`] (each operation's error codes as enums), [`crate::consistency`] (one
//! success status per operation), [`crate::json`] (every invalid field at once),
//! [`crate::command_request`] and [`crate::pagination`] (the shared request extractors).

use poem_openapi::OpenApi;
use poem_openapi::registry::{MetaApi, MetaParamIn, Registry};
use std::collections::HashMap;

/// The description of each shared parameter.
const SHARED_PARAMETERS: &[(MetaParamIn, &str, &str)] = &[
    (
        MetaParamIn::Header,
        "Idempotency-Key",
        "Makes the command safe to retry: a retry with the same key (1–255 printable ASCII \
         characters without spaces, e.g. a UUID) returns the original answer and changes nothing \
         more; the same key with a different request is 422 `idempotency_key_reused`.",
    ),
    (
        MetaParamIn::Header,
        "Loopync-Position",
        "A position a command answered with (`<transaction>-<position>`): the read waits, \
         briefly, until it reflects that command, and says whether it does in \
         `Loopync-Consistency`. A session's own commands are waited for without it.",
    ),
    (MetaParamIn::Query, "limit", "Page size, 1 to 100 (default 20)."),
    (
        MetaParamIn::Query,
        "cursor",
        "`pagination.nextCursor` of the previous page; absent for the first page.",
    ),
];

/// The description written here for a parameter, if it is a shared one.
pub fn shared_description(in_type: MetaParamIn, name: &str) -> Option<&'static str> {
    SHARED_PARAMETERS
        .iter()
        .find(|(place, shared, _)| *place == in_type && shared.eq_ignore_ascii_case(name))
        .map(|(_, _, description)| *description)
}

/// The product's APIs with their shared parameters documented (see the module docs).
pub struct Documented<T>(pub T);

impl<T: OpenApi> OpenApi for Documented<T> {
    fn meta() -> Vec<MetaApi> {
        let mut apis = T::meta();
        let operations = apis.iter_mut().flat_map(|api| &mut api.paths).flat_map(|path| &mut path.operations);
        for operation in operations {
            for param in &mut operation.params {
                if param.description.is_none() {
                    param.description = shared_description(param.in_type, &param.name).map(str::to_owned);
                }
            }
        }
        apis
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn add_routes(
        self,
        route_table: &mut HashMap<String, HashMap<poem::http::Method, poem::endpoint::BoxEndpoint<'static>>>,
    ) {
        self.0.add_routes(route_table);
    }
}
