//! The gateway's HTTP side: the upgrade `GET /api/ws`, the presence of a user, and the
//! AsyncAPI document of the protocol.

use super::audience;
use super::connection::{self, Opening};
use super::presence::Status;
use crate::client_address::client_ip;
use crate::consistency::Answer;
use crate::identity::BearerAuth;
use crate::identity::errors::auth_codes;
use crate::problem::Problem;
use crate::refusals;
use crate::refusals::Refused;
use crate::state::AppState;
use crate::timestamp::Timestamp;
use poem::http::StatusCode;
use poem::web::websocket::{WebSocket, WebSocketConfig};
use poem::web::{Data, Json as PoemJson, Query};
use poem::{IntoResponse, Request, Response, handler};
use poem_openapi::param::Path;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi, Tags};
use serde::Deserialize;
use uuid::Uuid;

/// The query of the upgrade request.
#[derive(Debug, Default, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
    since: Option<String>,
}

/// The code of the upgrade's 429: the client's address has as many sockets as it may.
pub const TOO_MANY_SOCKETS: &str = "too_many_sockets";

/// The `Retry-After` of that 429. A place frees only when one of the address's sockets closes,
/// which no one can predict; a few seconds keep a reconnect loop from hammering the node.
const TOO_MANY_SOCKETS_RETRY_SECONDS: u32 = 5;

/// `GET /api/ws`: upgrades to the realtime protocol (see `/api/asyncapi.json`).
///
/// The client's address (as `crate::client_address` resolved it: trusted proxies' forwarding
/// believed, nobody else's) takes a socket place first, before any authentication, so sockets
/// that never authenticate are capped too.
#[handler]
pub async fn ws_endpoint(
    request: &Request,
    ws: WebSocket,
    Query(query): Query<WsQuery>,
    Data(state): Data<&AppState>,
) -> Response {
    let Some(hub) = state.realtime.hub() else {
        return Problem::service_unavailable(
            "live updates are unavailable: the node has no NATS connection yet",
        )
        .into_response();
    };
    let Some(slot) = hub.admit(client_ip(request)) else {
        let most = hub.config.sockets_per_ip;
        return Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            TOO_MANY_SOCKETS,
            format!("this address has {most} live sockets to this node already; close one first"),
        )
        .with_retry_after(TOO_MANY_SOCKETS_RETRY_SECONDS)
        .into_response();
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(hub.config.hard_frame_bytes))
        .max_frame_size(Some(hub.config.hard_frame_bytes))
        // Small buffers: most connections sit idle, and 10,000 of them must fit one node.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let state = state.clone();
    let opening = Opening { token: query.token, since: query.since };
    ws.config(config)
        .on_upgrade(move |socket| connection::run(socket, state, hub, opening, slot))
        .into_response()
}

/// `GET /api/asyncapi.json`: the AsyncAPI 3 document of the WebSocket protocol.
#[handler]
pub fn asyncapi_document() -> PoemJson<serde_json::Value> {
    PoemJson(super::asyncapi::document())
}

#[derive(Tags)]
enum Tag {
    /// Presence and the realtime gateway (`GET /api/ws`, documented in `/api/asyncapi.json`).
    Realtime,
}

/// Whether a user is online, as all nodes see it.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct PresenceView {
    pub user_id: Uuid,
    /// `online` or `offline`.
    pub status: String,
    /// When the user's last device disconnected (`null` while online or never seen).
    // Always present, `null` when unknown, and documented so: clients test it against null.
    #[oai(nullable)]
    pub last_seen: Option<Timestamp>,
}

impl Example for PresenceView {
    fn example() -> Self {
        Self {
            user_id: Uuid::from_u128(0x0193_a0c4_6c1e_7d2a_9b1f_3f5e_8d2c_4a10),
            status: "offline".to_owned(),
            last_seen: Some(Timestamp::example()),
        }
    }
}

refusals!(PresenceRefusals, "Presence", |set| set
    .signed_in()
    .with(403, &[PRESENCE_FORBIDDEN])
    .with(404, &[auth_codes::USER_NOT_FOUND]));

/// The user does not share their presence with the caller.
const PRESENCE_FORBIDDEN: &str = "presence_forbidden";

impl PresenceView {
    fn new(user_id: Uuid, status: Status) -> Self {
        Self {
            user_id,
            status: if status.online { "online" } else { "offline" }.to_owned(),
            last_seen: status.last_seen.map(Timestamp),
        }
    }
}

/// `/api/users/{userId}/presence`.
pub struct PresenceApi {
    state: AppState,
}

impl PresenceApi {
    pub fn new(state: &AppState) -> Self {
        Self { state: state.clone() }
    }
}

#[OpenApi(tag = "Tag::Realtime")]
impl PresenceApi {
    /// Whether a user is online, and when they were last seen.
    ///
    /// Your own presence, or that of a user whose privacy setting shows them to you (`public`,
    /// or `friends` when you are friends; never across a block either way): 403
    /// `presence_forbidden` otherwise, 404 `user_not_found` for no such user. Presence is
    /// shared across devices and nodes; a user counts as offline a few seconds after their
    /// last device disconnects.
    #[oai(path = "/users/:userId/presence", method = "get")]
    async fn presence(
        &self,
        auth: BearerAuth,
        /// The user whose presence is asked for.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
    ) -> Result<Answer<PresenceView>, Refused<PresenceRefusals>> {
        let user_id = user_id.0;
        let visible = audience::visibility(&self.state.pool, auth.0.user_id, &[user_id]).await?;
        match visible.get(&user_id) {
            None => {
                return Err(
                    Problem::not_found(auth_codes::USER_NOT_FOUND, format!("no user {user_id}")).into()
                );
            }
            Some(false) => {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    PRESENCE_FORBIDDEN,
                    "this user does not share their presence with you",
                )
                .into());
            }
            Some(true) => {}
        }
        let Some(hub) = self.state.realtime.hub() else {
            return Err(Problem::service_unavailable(
                "presence is unavailable: the node has no NATS connection",
            )
            .into());
        };
        let status = hub.presence.status(user_id).await;
        Ok(Answer::ok(PresenceView::new(user_id, status)))
    }
}
