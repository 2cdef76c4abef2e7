//! A request body kept as the exact bytes received, for webhooks whose signature covers them
//! (re-serializing parsed JSON would change the bytes and break the HMAC).

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};

/// The raw bytes of a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(pub Vec<u8>);

impl Payload for RawJson {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        essence == "application/json"
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("The provider's notice, signed in `Loopync-Signature` (see the README)."),
            example: Some(serde_json::json!({
                "id": "evt_1",
                "type": "top_up.succeeded",
                "topUpId": "0193a0c6-2e55-7ca1-9d32-5f70b1c2d3e4",
                "account": "0193a0c4-6c1e-7d2a-9b1f-3f5e8d2c4a10",
                "amount": 2500,
            })),
            ..MetaSchema::new("object")
        }))
    }

    fn register(_registry: &mut Registry) {}
}

impl ParsePayload for RawJson {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self(Vec::<u8>::from_request(request, body).await?))
    }
}

use poem_openapi::impl_apirequest_for_payload;
impl_apirequest_for_payload!(RawJson);
