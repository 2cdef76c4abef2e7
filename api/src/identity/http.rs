//! The identity endpoints: `/api/auth/*`, `/api/users/*` and `/api/admin/users/*`.
//!
//! Handlers only translate: HTTP in, a use case of [`Identity`], HTTP out. Who may call what:
//!
//! | endpoint                               | anonymous | signed in          |
//! |----------------------------------------|-----------|--------------------|
//! | signup, login, refresh, send-code, verify-phone, verify-email, forgot/reset-password | yes | yes |
//! | logout, me, sessions, change-password, resend-verification | 401 | own only |
//! | `GET /users/{id}`, `/users/search`     | 401       | anyone (public view) |
//! | `PATCH /users/{id}/profile`, `GET/PUT /users/{id}/settings` | 401 | owner only (403) |
//! | `PUT /admin/users/{id}/role`           | 401       | admins only (403)  |

use super::auth::BearerAuth;
use super::errors::AuthError;
use super::service::{Device, Identity, ProfileChange, SignUp, SignedIn};
use super::views::*;
use crate::consistency::{CommandResponse, ReadResponse, command_context, position_token};
use crate::json::JsonBody;
use crate::problem::Problem;
use crate::request_id::RequestId;
use crate::state::AppState;
use chrono::Utc;
use loopync_domain::identity::session::RevocationReason;
use loopync_projections::identity::{self as read, SearchCursor, UserProfiles, UserSessions};
use loopync_schemas::Position;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, Tags};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// Sign-up, sign-in, tokens, sessions, verification and recovery.
    Auth,
    /// Profiles, settings and search.
    Users,
    /// Admin-only operations.
    Admin,
}

/// An answer with no body.
#[derive(Debug, ApiResponse)]
pub enum Done {
    /// Done. `Loopync-Position` names the position reached, when something changed.
    #[oai(status = 204)]
    NoContent(#[oai(header = "Loopync-Position")] Option<String>),
}

impl Done {
    fn at(position: Option<Position>) -> Self {
        Self::NoContent(position_token(position))
    }
}

/// Accepted: the work continues in the background.
#[derive(Debug, ApiResponse)]
pub enum Later<T: poem_openapi::types::ToJSON> {
    #[oai(status = 202)]
    Accepted(Json<T>),
}

fn device(request: &Request) -> Device {
    Device {
        user_agent: request
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        ip: request.remote_addr().as_socket_addr().map(|address| address.ip().to_string()),
    }
}

fn tokens(signed_in: &SignedIn) -> AuthTokens {
    AuthTokens {
        token: signed_in.access_token.clone(),
        refresh_token: signed_in.refresh_token.clone(),
        token_type: "Bearer".to_owned(),
        expires_in: (signed_in.access_expires_at - Utc::now()).num_seconds().max(0),
        session_id: signed_in.session_id,
        user: UserView::of(signed_in.user_id, &signed_in.account),
    }
}

/// `/api/auth/*`.
pub struct AuthApi {
    identity: Arc<Identity>,
    state: AppState,
}

impl AuthApi {
    pub fn new(state: &AppState) -> Self {
        Self { identity: state.identity.clone(), state: state.clone() }
    }

    /// Remembers the position of a command that started (or continued) a session for that
    /// session, so the first reads with its new token wait for it. The request carried no
    /// token of that session, so the layer that remembers commands' positions cannot.
    async fn remember_for_session(&self, signed_in: &SignedIn) {
        if let Some(position) = signed_in.position {
            self.state.session_positions.remember(signed_in.session_id, position).await;
        }
    }
}

#[OpenApi(prefix_path = "/auth", tag = "Tag::Auth")]
impl AuthApi {
    /// Create an account with email and password; signs it in.
    ///
    /// Sends a verification mail. `email_taken` / `handle_taken` (409) when either is in use,
    /// including by a sign-up racing this one.
    #[oai(path = "/signup", method = "post")]
    async fn signup(
        &self,
        body: JsonBody<SignupRequest>,
        request: &Request,
        request_id: RequestId,
    ) -> Result<CommandResponse<AuthTokens>, Problem> {
        let form = SignUp {
            email: body.0.email,
            password: body.0.password,
            name: body.0.name,
            handle: body.0.handle,
        };
        let signed_in =
            self.identity.sign_up(form, &device(request), &command_context(&request_id, None)).await?;
        self.remember_for_session(&signed_in).await;
        Ok(CommandResponse::created(tokens(&signed_in), signed_in.position))
    }

    /// Sign in with email and password.
    ///
    /// A wrong password and an unknown email are both `invalid_credentials` (401) and take
    /// the same time. After 5 failures for one address in 15 minutes: `rate_limited` (429).
    #[oai(path = "/login", method = "post")]
    async fn login(
        &self,
        body: JsonBody<LoginRequest>,
        request: &Request,
        request_id: RequestId,
    ) -> Result<CommandResponse<AuthTokens>, Problem> {
        let signed_in = self
            .identity
            .log_in(&body.0.email, body.0.password, &device(request), &command_context(&request_id, None))
            .await?;
        self.remember_for_session(&signed_in).await;
        Ok(CommandResponse::applied(tokens(&signed_in), signed_in.position))
    }

    /// Trade a refresh token for new tokens. The refresh token is single use: presenting it
    /// again ends the whole session (`token_reused`, 401).
    #[oai(path = "/refresh", method = "post")]
    async fn refresh(
        &self,
        body: JsonBody<RefreshRequest>,
        request_id: RequestId,
    ) -> Result<CommandResponse<AuthTokens>, Problem> {
        let signed_in =
            self.identity.refresh(&body.0.refresh_token, &command_context(&request_id, None)).await?;
        self.remember_for_session(&signed_in).await;
        Ok(CommandResponse::applied(tokens(&signed_in), signed_in.position))
    }

    /// End the session of the access token. Its refresh token stops working at once; the
    /// access token itself expires on its own (15 minutes at most).
    #[oai(path = "/logout", method = "post")]
    async fn logout(&self, auth: BearerAuth, request_id: RequestId) -> Result<Done, Problem> {
        let caller = auth.0;
        let position = self
            .identity
            .revoke_session(
                caller.user_id,
                caller.session_id,
                RevocationReason::Logout,
                &command_context(&request_id, None),
            )
            .await?;
        Ok(Done::at(position))
    }

    /// The signed-in user's own account.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, auth: BearerAuth) -> Result<Json<UserView>, Problem> {
        let account = self.identity.account(auth.0.user_id).await?;
        Ok(Json(UserView::of(auth.0.user_id, &account)))
    }

    /// The signed-in user's live sessions (devices), newest first.
    #[oai(path = "/sessions", method = "get")]
    async fn sessions(
        &self,
        auth: BearerAuth,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<SessionList>, Problem> {
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), &[UserSessions::NAME]).await?;
        let rows = read::sessions::active_sessions(&self.state.pool, auth.0.user_id, Utc::now()).await?;
        let data: Vec<SessionView> = rows
            .into_iter()
            .map(|row| SessionView {
                id: row.session_id,
                device: row.device,
                ip: row.ip,
                started_at: row.started_at,
                last_used_at: row.last_used_at,
                expires_at: row.expires_at,
                current: row.session_id == auth.0.session_id,
            })
            .collect();
        let limit = data.len() as i64;
        Ok(ReadResponse::ok(
            SessionList { data, pagination: Pagination { limit, next_cursor: None } },
            freshness,
        ))
    }

    /// End one of the signed-in user's sessions (sign a device out). Another user's session
    /// is `session_not_found` (404), like one that does not exist.
    #[oai(path = "/sessions/:sessionId", method = "delete")]
    async fn revoke_session(
        &self,
        auth: BearerAuth,
        #[oai(name = "sessionId")] session_id: Path<Uuid>,
        request_id: RequestId,
    ) -> Result<Done, Problem> {
        let position = self
            .identity
            .revoke_session(
                auth.0.user_id,
                session_id.0,
                RevocationReason::Revoked,
                &command_context(&request_id, None),
            )
            .await?;
        Ok(Done::at(position))
    }

    /// Confirm an email address with the token from the verification mail.
    #[oai(path = "/verify-email", method = "post")]
    async fn verify_email(
        &self,
        body: JsonBody<TokenRequest>,
        request_id: RequestId,
    ) -> Result<Done, Problem> {
        let change = self.identity.verify_email(&body.0.token, &command_context(&request_id, None)).await?;
        Ok(Done::at(change.position))
    }

    /// Send the verification mail again (nothing happens when the address is verified).
    #[oai(path = "/resend-verification", method = "post")]
    async fn resend_verification(
        &self,
        auth: BearerAuth,
        request_id: RequestId,
    ) -> Result<Later<Accepted>, Problem> {
        self.identity.resend_verification(auth.0.user_id, &command_context(&request_id, None)).await?;
        Ok(Later::Accepted(Json(Accepted {
            message: "if the address is unverified, a mail is on its way".into(),
        })))
    }

    /// Ask for a password reset mail. Always 202, whether or not the address has an account.
    #[oai(path = "/forgot-password", method = "post")]
    async fn forgot_password(
        &self,
        body: JsonBody<EmailRequest>,
        request_id: RequestId,
    ) -> Result<Later<Accepted>, Problem> {
        self.identity.forgot_password(&body.0.email, &command_context(&request_id, None));
        Ok(Later::Accepted(Json(Accepted {
            message: "if the address has an account, a reset mail is on its way".into(),
        })))
    }

    /// Choose a new password with the token from the reset mail. The token works once and
    /// for an hour; every session of the account ends.
    #[oai(path = "/reset-password", method = "post")]
    async fn reset_password(
        &self,
        body: JsonBody<ResetPasswordRequest>,
        request_id: RequestId,
    ) -> Result<Done, Problem> {
        let change = self
            .identity
            .reset_password(&body.0.token, body.0.password, &command_context(&request_id, None))
            .await?;
        Ok(Done::at(change.position))
    }

    /// Change the password, knowing the current one. Every session ends; the answer is a
    /// new one for this device.
    #[oai(path = "/change-password", method = "post")]
    async fn change_password(
        &self,
        auth: BearerAuth,
        body: JsonBody<ChangePasswordRequest>,
        request: &Request,
        request_id: RequestId,
    ) -> Result<CommandResponse<AuthTokens>, Problem> {
        let signed_in = self
            .identity
            .change_password(
                auth.0.user_id,
                body.0.current_password,
                body.0.new_password,
                &device(request),
                &command_context(&request_id, None),
            )
            .await?;
        self.remember_for_session(&signed_in).await;
        Ok(CommandResponse::applied(tokens(&signed_in), signed_in.position))
    }

    /// Text a six-digit sign-in code to a phone number. The code lives 5 minutes; another
    /// can be sent after 60 seconds (`code_cooldown`, 429, before that).
    #[oai(path = "/send-code", method = "post")]
    async fn send_code(
        &self,
        body: JsonBody<SendCodeRequest>,
        request_id: RequestId,
    ) -> Result<Later<CodeSentView>, Problem> {
        let sent = self.identity.send_code(&body.0.phone_number, &command_context(&request_id, None)).await?;
        Ok(Later::Accepted(Json(CodeSentView {
            expires_in: sent.expires_in_seconds,
            resend_after: sent.resend_after_seconds,
        })))
    }

    /// Sign in with a phone number and its code; creates the account on first use. 5 wrong
    /// codes end the code (`too_many_attempts`).
    #[oai(path = "/verify-phone", method = "post")]
    async fn verify_phone(
        &self,
        body: JsonBody<VerifyPhoneRequest>,
        request: &Request,
        request_id: RequestId,
    ) -> Result<CommandResponse<PhoneAuthTokens>, Problem> {
        let body = body.0;
        let result = self
            .identity
            .verify_phone(
                &body.phone_number,
                &body.code,
                body.name,
                body.handle,
                &device(request),
                &command_context(&request_id, None),
            )
            .await?;
        self.remember_for_session(&result.signed_in).await;
        let answer = PhoneAuthTokens { tokens: tokens(&result.signed_in), is_new_user: result.new_account };
        Ok(if result.new_account {
            CommandResponse::created(answer, result.signed_in.position)
        } else {
            CommandResponse::applied(answer, result.signed_in.position)
        })
    }
}

/// `/api/users/*`.
pub struct UsersApi {
    identity: Arc<Identity>,
    state: AppState,
}

impl UsersApi {
    pub fn new(state: &AppState) -> Self {
        Self { identity: state.identity.clone(), state: state.clone() }
    }
}

/// Search page size: default and cap.
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

#[OpenApi(prefix_path = "/users", tag = "Tag::Users")]
impl UsersApi {
    /// The signed-in user's own account (same as `/api/auth/me`).
    #[oai(path = "/me", method = "get")]
    async fn me(&self, auth: BearerAuth) -> Result<Json<UserView>, Problem> {
        let account = self.identity.account(auth.0.user_id).await?;
        Ok(Json(UserView::of(auth.0.user_id, &account)))
    }

    /// Find users by handle or name: prefix matches first, then similar spellings.
    #[oai(path = "/search", method = "get")]
    async fn search(
        &self,
        _auth: BearerAuth,
        /// What to look for (1 to 100 characters; a leading `@` is ignored).
        q: Query<String>,
        /// Page size, 1 to 100 (default 20).
        limit: Query<Option<i64>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<UserPage>, Problem> {
        let query = q.0.trim().trim_start_matches('@').trim().to_owned();
        if query.is_empty() || query.chars().count() > 100 {
            return Err(AuthError::field("q", "1 to 100 characters").into());
        }
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AuthError::field("limit", "1 to 100").into());
        }
        let after = match cursor.0 {
            Some(cursor) => Some(
                SearchCursor::decode(&cursor)
                    .ok_or_else(|| AuthError::field("cursor", "not a cursor of this search"))?,
            ),
            None => None,
        };
        let rows = read::profiles::search(&self.state.pool, &query, after, limit).await?;
        let next_cursor =
            (rows.len() as i64 == limit).then(|| rows.last().map(|(_, cursor)| cursor.encode())).flatten();
        let data = rows.iter().map(|(row, _)| PublicUser::from(row)).collect();
        Ok(Json(UserPage { data, pagination: Pagination { limit, next_cursor } }))
    }

    /// A user's public profile.
    #[oai(path = "/:userId", method = "get")]
    async fn user(
        &self,
        auth: BearerAuth,
        #[oai(name = "userId")] user_id: Path<Uuid>,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<PublicUser>, Problem> {
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), &[UserProfiles::NAME]).await?;
        let row =
            read::profiles::profile(&self.state.pool, user_id.0).await?.ok_or(AuthError::UserNotFound)?;
        Ok(ReadResponse::ok(PublicUser::from(&row), freshness))
    }

    /// Change one's own profile. A new handle must be free (`handle_taken`, 409).
    #[oai(path = "/:userId/profile", method = "patch")]
    async fn update_profile(
        &self,
        auth: BearerAuth,
        #[oai(name = "userId")] user_id: Path<Uuid>,
        body: JsonBody<ProfilePatch>,
        request_id: RequestId,
    ) -> Result<CommandResponse<UserView>, Problem> {
        auth.0.require_self(user_id.0)?;
        let body = body.0;
        let change = ProfileChange {
            name: body.name,
            handle: body.handle,
            bio: patch(body.bio),
            avatar: patch(body.avatar),
            cover_photo: patch(body.cover_photo),
            location: patch(body.location),
            website: patch(body.website),
        };
        let changed =
            self.identity.update_profile(user_id.0, change, &command_context(&request_id, None)).await?;
        Ok(CommandResponse::applied(UserView::of(user_id.0, &changed.account), changed.position))
    }

    /// One's own settings.
    #[oai(path = "/:userId/settings", method = "get")]
    async fn settings(
        &self,
        auth: BearerAuth,
        #[oai(name = "userId")] user_id: Path<Uuid>,
    ) -> Result<Json<SettingsView>, Problem> {
        auth.0.require_self(user_id.0)?;
        let account = self.identity.account(user_id.0).await?;
        Ok(Json((&account.settings).into()))
    }

    /// Replace one's own settings.
    #[oai(path = "/:userId/settings", method = "put")]
    async fn update_settings(
        &self,
        auth: BearerAuth,
        #[oai(name = "userId")] user_id: Path<Uuid>,
        body: JsonBody<SettingsView>,
        request_id: RequestId,
    ) -> Result<CommandResponse<SettingsView>, Problem> {
        auth.0.require_self(user_id.0)?;
        let changed = self
            .identity
            .update_settings(user_id.0, body.0.into(), &command_context(&request_id, None))
            .await?;
        Ok(CommandResponse::applied((&changed.account.settings).into(), changed.position))
    }
}

/// `/api/admin/*`.
pub struct AdminApi {
    identity: Arc<Identity>,
}

impl AdminApi {
    pub fn new(state: &AppState) -> Self {
        Self { identity: state.identity.clone() }
    }
}

/// A role as changed.
#[derive(Debug, Clone, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct UserRole {
    pub user_id: Uuid,
    pub role: RoleName,
}

#[OpenApi(prefix_path = "/admin", tag = "Tag::Admin")]
impl AdminApi {
    /// Set a user's role (admins only). Admins manage users, verified users and admins; only
    /// a founder makes or unmakes a founder (`role_change_not_allowed`, 403).
    #[oai(path = "/users/:userId/role", method = "put")]
    async fn set_role(
        &self,
        auth: BearerAuth,
        #[oai(name = "userId")] user_id: Path<Uuid>,
        body: JsonBody<RoleChangeRequest>,
        request_id: RequestId,
    ) -> Result<CommandResponse<UserRole>, Problem> {
        let admin_role = self.identity.require_admin(&auth.0).await?;
        let changed = self
            .identity
            .change_role(
                auth.0.user_id,
                admin_role,
                user_id.0,
                body.0.role.into(),
                &command_context(&request_id, None),
            )
            .await?;
        Ok(CommandResponse::applied(
            UserRole { user_id: user_id.0, role: changed.account.role.into() },
            changed.position,
        ))
    }
}
