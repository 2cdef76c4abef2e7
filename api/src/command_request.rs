//! [`CommandRequest`]: what every signed-in command handler takes from its request, extracted
//! and documented in one place — the caller (bearer token), the request id (the events'
//! correlation id) and, for operations that take one, the `Idempotency-Key`.
//!
//! ```ignore
//! async fn transfer(
//!     &self,
//!     #[oai(name = "Idempotency-Key")] command: CommandRequest,
//!     body: JsonBody<TransferRequest>,
//! ) -> Result<Created<TransferView>, Refused<TransferRefusals>> {
//!     let outcome = self.looppay.transfer(command.caller(), ..., command.context()).await?;
//! ```
//!
//! `CommandRequest` (with the key) shows in the OpenAPI document as the `BearerAuth` security
//! requirement plus the optional `Idempotency-Key` header, which the handler names with
//! `#[oai(name = "Idempotency-Key")]` (poem-openapi names a parameter after its argument); the
//! header's description is written once, in [`crate::contract`]. `CommandRequest<WithoutKey>`
//! is the same without the header, for commands that are not retried by key (sign-out,
//! profile and settings changes). A malformed key is 400 `invalid_idempotency_key` before the
//! handler runs.

use crate::auth::{BearerAuth, Caller};
use crate::consistency::command_context;
use crate::problem::{FieldProblem, IDEMPOTENCY_KEY_HEADER, Problem, codes, field_codes};
use crate::request_id::RequestId;
use loopync_commands::CommandContext;
use loopync_commands::idempotency::validate_key;
use poem::http::StatusCode;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::registry::{MetaParamIn, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use std::marker::PhantomData;

/// Whether a command takes an `Idempotency-Key`.
pub trait KeyPolicy: Send + Sync + 'static {
    const TAKES_KEY: bool;
}

/// The command takes an `Idempotency-Key` (the default).
#[derive(Debug)]
pub struct WithKey;

/// The command takes no `Idempotency-Key`.
#[derive(Debug)]
pub struct WithoutKey;

impl KeyPolicy for WithKey {
    const TAKES_KEY: bool = true;
}

impl KeyPolicy for WithoutKey {
    const TAKES_KEY: bool = false;
}

/// The longest idempotency key (the pipeline's limit).
const MAX_KEY_LEN: usize = 255;

/// A signed-in command's request: who sends it and the context its events are appended with.
#[derive(Debug)]
pub struct CommandRequest<K: KeyPolicy = WithKey> {
    caller: Caller,
    context: CommandContext,
    key_policy: PhantomData<K>,
}

impl<K: KeyPolicy> CommandRequest<K> {
    /// The signed-in caller.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The command's context: idempotency key and correlation id (the request id). The actor
    /// is added by the use case.
    pub fn context(&self) -> CommandContext {
        self.context.clone()
    }
}

/// The key of the request: absent, or what the pipeline accepts (1–255 printable ASCII
/// characters, no spaces), checked before anything runs. A key that is present but unusable
/// (not visible ASCII, empty, too long, or sent more than once) is refused, never taken for
/// no key at all: a retry whose key were dropped would run again and move money twice.
fn idempotency_key(request: &Request) -> Result<Option<String>, Problem> {
    let mut values = request.headers().get_all(IDEMPOTENCY_KEY_HEADER).iter();
    let Some(value) = values.next() else { return Ok(None) };
    let checked = if values.next().is_some() {
        Err("must be sent once, with one value".to_owned())
    } else {
        value
            .to_str()
            .map_err(|_| "must be printable ASCII without spaces".to_owned())
            .and_then(|key| validate_key(key).map(|()| key.to_owned()))
    };
    checked.map(Some).map_err(|reason| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_IDEMPOTENCY_KEY,
            "the Idempotency-Key header is invalid",
        )
        .with_errors([FieldProblem::new(IDEMPOTENCY_KEY_HEADER, field_codes::INVALID, reason)])
    })
}

impl<'a, K: KeyPolicy> ApiExtractor<'a> for CommandRequest<K> {
    const TYPES: &'static [ApiExtractorType] = if K::TAKES_KEY {
        &[ApiExtractorType::SecurityScheme, ApiExtractorType::Parameter]
    } else {
        &[ApiExtractorType::SecurityScheme]
    };
    const PARAM_IS_REQUIRED: bool = false;
    type ParamType = String;
    type ParamRawType = String;

    fn register(registry: &mut Registry) {
        <BearerAuth as ApiExtractor>::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        <BearerAuth as ApiExtractor>::security_schemes()
    }

    fn param_in() -> Option<MetaParamIn> {
        K::TAKES_KEY.then_some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        K::TAKES_KEY.then(|| {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                min_length: Some(1),
                max_length: Some(MAX_KEY_LEN),
                example: Some(serde_json::Value::from("0193a0c4-6c1e-7d2a-9b1f-3f5e8d2c4a10")),
                ..MetaSchema::new("string")
            }))
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let auth = <BearerAuth as ApiExtractor>::from_request(request, body, no_options()).await?;
        let key = if K::TAKES_KEY { idempotency_key(request)? } else { None };
        let request_id = <RequestId as FromRequest>::from_request(request, body).await?;
        Ok(Self { caller: auth.0, context: command_context(&request_id, key), key_policy: PhantomData })
    }
}

/// Options for extractors that take none (the security scheme).
fn no_options() -> ExtractParamOptions<()> {
    ExtractParamOptions {
        name: "",
        ignore_case: false,
        default_value: None,
        example_value: None,
        explode: true,
        style: None,
    }
}

impl RequestId {
    /// The context of an anonymous command (sign-up, sign-in): the request id as correlation id.
    pub fn command_context(&self) -> CommandContext {
        command_context(self, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_key(key: &str) -> Request {
        Request::builder().header(IDEMPOTENCY_KEY_HEADER, key).finish()
    }

    #[test]
    fn keys_are_one_to_255_printable_ascii_characters() {
        assert_eq!(idempotency_key(&Request::default()).ok(), Some(None));
        assert_eq!(idempotency_key(&with_key("order-42")).ok(), Some(Some("order-42".to_owned())));
        for bad in [String::new(), "tab\there".to_owned(), "k".repeat(256)] {
            let problem = idempotency_key(&with_key(&bad)).err();
            assert_eq!(problem.map(|p| p.code().to_owned()).as_deref(), Some(codes::INVALID_IDEMPOTENCY_KEY));
        }
    }

    #[test]
    fn a_key_that_cannot_be_read_or_comes_twice_is_refused_not_ignored() {
        let non_ascii = poem::http::HeaderValue::from_bytes("café-order-42".as_bytes()).unwrap();
        let request = Request::builder().header(IDEMPOTENCY_KEY_HEADER, non_ascii).finish();
        assert_eq!(
            idempotency_key(&request).err().map(|p| p.code().to_owned()).as_deref(),
            Some(codes::INVALID_IDEMPOTENCY_KEY)
        );
        let twice = Request::builder()
            .header(IDEMPOTENCY_KEY_HEADER, "order-42")
            .header(IDEMPOTENCY_KEY_HEADER, "order-42")
            .finish();
        assert_eq!(twice.headers().get_all(IDEMPOTENCY_KEY_HEADER).iter().count(), 2, "two header lines");
        assert_eq!(
            idempotency_key(&twice).err().map(|p| p.code().to_owned()).as_deref(),
            Some(codes::INVALID_IDEMPOTENCY_KEY)
        );
    }
}
