//! The identity endpoints: `/api/auth/*`, `/api/users/*` and `/api/admin/users/*`.
//!
//! Handlers only translate: HTTP in, a use case of [`Identity`], HTTP out. Who may call what:
//!
//! | endpoint                               | anonymous | signed in          |
//! |----------------------------------------|-----------|--------------------|
//! | signup, login, refresh, send-code, verify-phone, verify-email, forgot/reset-password | yes | yes |
//! | logout, me, sessions, change-password, resend-verification | 401 | own only |
//! | `GET /users/{id}`, `/users/search`     | 401       | anyone (public view) |
//! | `PATCH /users/{id}/profile`, `GET/PATCH/PUT /users/{id}/settings` | 401 | owner only (403) |
//! | `PUT /admin/users/{id}/role`           | 401       | admins only (403)  |

use super::auth::BearerAuth;
use super::errors::{AuthError, auth_codes as c};
use super::service::{Device, Identity, ProfileChange, SignUp, SignedIn};
use super::views::*;
use crate::command_request::{CommandRequest, WithoutKey};
use crate::consistency::{Answer, Applied, Created, Done, ReadResponse};
use crate::json::JsonBody;
use crate::pagination::{PageCursor, PageLimit, Pagination};
use crate::problem::{codes, field_codes};
use crate::refusals;
use crate::refusals::Refused;
use crate::request_id::RequestId;
use crate::state::AppState;
use chrono::Utc;
use loopync_domain::identity::Handle;
use loopync_domain::identity::session::RevocationReason;
use loopync_projections::identity::{self as read, SearchCursor, UserProfiles, UserSessions};
use loopync_projections::social::{self, SocialReadModel};
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, OpenApi, Tags};
use std::sync::Arc;
use uuid::Uuid;

/// A signed-in identity command: the caller and the request id. Identity commands take no
/// `Idempotency-Key`: signing in twice is two sessions, and the other commands are
/// idempotent by what they set.
type SignedInCommand = CommandRequest<WithoutKey>;

#[derive(Tags)]
enum Tag {
    /// Sign-up, sign-in, tokens, sessions, verification and recovery.
    Auth,
    /// Profiles, settings and search.
    Users,
    /// Admin-only operations.
    Admin,
}

/// Accepted: the work continues in the background.
#[derive(Debug, ApiResponse)]
pub enum Later<T: poem_openapi::types::ToJSON> {
    /// Accepted; the work continues in the background.
    #[oai(status = 202)]
    Accepted(Json<T>),
}

// Each operation's refusals, as the OpenAPI document shows them (see `crate::refusals`).
refusals!(SignupRefusals, "Signup", |set| set.body().command().with(409, &[c::EMAIL_TAKEN, c::HANDLE_TAKEN]));
refusals!(LoginRefusals, "Login", |set| set
    .body()
    .command()
    .with(401, &[c::INVALID_CREDENTIALS])
    .with(409, &[c::NO_PASSWORD, c::CREDENTIALS_CHANGED]));
refusals!(RefreshRefusals, "Refresh", |set| set
    .body()
    .command()
    .with(401, &[c::INVALID_TOKEN, c::TOKEN_EXPIRED, c::TOKEN_REUSED, c::SESSION_ENDED])
    .with(409, &[c::CREDENTIALS_CHANGED]));
refusals!(LogoutRefusals, "Logout", |set| set.signed_in().command().with(404, &[c::SESSION_NOT_FOUND]));
refusals!(MeRefusals, "Me", |set| set.signed_in().with(404, &[c::USER_NOT_FOUND]));
refusals!(CheckHandleRefusals, "CheckHandle", |set| set);
refusals!(SessionsRefusals, "Sessions", |set| set.signed_in().reads_position());
refusals!(RevokeSessionRefusals, "RevokeSession", |set| set
    .signed_in()
    .command()
    .with(404, &[c::SESSION_NOT_FOUND]));
refusals!(VerifyEmailRefusals, "VerifyEmail", |set| set
    .body()
    .command()
    .with(401, &[c::INVALID_TOKEN, c::TOKEN_EXPIRED]));
refusals!(ResendVerificationRefusals, "ResendVerification", |set| set
    .signed_in()
    .command()
    .with(404, &[c::USER_NOT_FOUND])
    .with(503, &[c::DELIVERY_UNAVAILABLE]));
refusals!(ForgotPasswordRefusals, "ForgotPassword", |set| set.body());
refusals!(ResetPasswordRefusals, "ResetPassword", |set| set
    .body()
    .command()
    .with(401, &[c::INVALID_TOKEN, c::TOKEN_EXPIRED])
    .with(409, &[c::NO_PASSWORD, c::CREDENTIALS_CHANGED]));
refusals!(ChangePasswordRefusals, "ChangePassword", |set| set
    .signed_in()
    .body()
    .command()
    .with(401, &[c::INVALID_CREDENTIALS])
    .with(404, &[c::USER_NOT_FOUND])
    .with(409, &[c::NO_PASSWORD, c::CREDENTIALS_CHANGED])
    .with(429, &[c::RATE_LIMITED]));
refusals!(SendCodeRefusals, "SendCode", |set| set
    .body()
    .command()
    .with(429, &[c::CODE_COOLDOWN])
    .with(503, &[c::DELIVERY_UNAVAILABLE]));
refusals!(VerifyPhoneRefusals, "VerifyPhone", |set| set
    .body()
    .command()
    .with(400, &[c::INVALID_CODE, c::CODE_EXPIRED, c::NO_CODE_PENDING, c::TOO_MANY_ATTEMPTS])
    .with(409, &[c::HANDLE_TAKEN, c::PHONE_TAKEN]));
refusals!(SearchRefusals, "SearchUsers", |set| set.signed_in());
refusals!(UserRefusals, "User", |set| set.signed_in().reads_position().with(404, &[c::USER_NOT_FOUND]));
refusals!(UpdateProfileRefusals, "UpdateProfile", |set| set
    .signed_in()
    .body()
    .command()
    .with(403, &[codes::FORBIDDEN])
    .with(404, &[c::USER_NOT_FOUND])
    .with(409, &[c::HANDLE_TAKEN]));
refusals!(SettingsRefusals, "Settings", |set| set
    .signed_in()
    .with(403, &[codes::FORBIDDEN])
    .with(404, &[c::USER_NOT_FOUND]));
refusals!(UpdateSettingsRefusals, "UpdateSettings", |set| set
    .signed_in()
    .body()
    .command()
    .with(403, &[codes::FORBIDDEN])
    .with(404, &[c::USER_NOT_FOUND]));
refusals!(SetRoleRefusals, "SetRole", |set| set
    .signed_in()
    .body()
    .command()
    .with(403, &[codes::FORBIDDEN, c::ROLE_CHANGE_NOT_ALLOWED])
    .with(404, &[c::USER_NOT_FOUND]));

fn device(request: &Request) -> Device {
    Device {
        user_agent: request
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        ip: crate::client_address::client_ip(request).map(|address| address.to_string()),
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
    /// Whether a handle can be taken (for sign-up and profile forms): `available`, or why
    /// not (`invalid`: not 3–30 of `a-z 0-9 _ .`; `taken`). Read from the handle's claim, so
    /// a handle taken a moment ago is already `taken`.
    #[oai(path = "/check-handle/:handle", method = "get")]
    async fn check_handle(
        &self,
        /// The handle, with or without `@` (case does not matter).
        handle: Path<String>,
    ) -> Result<Answer<HandleAvailability>, Refused<CheckHandleRefusals>> {
        let answer = match Handle::parse(&handle.0) {
            Err(_) => HandleAvailability {
                handle: handle.0.trim().trim_start_matches('@').to_ascii_lowercase(),
                available: false,
                reason: Some("invalid".to_owned()),
            },
            Ok(parsed) => {
                let taken = self.identity.handle_taken(&parsed).await?;
                HandleAvailability {
                    handle: parsed.as_str().to_owned(),
                    available: !taken,
                    reason: taken.then(|| "taken".to_owned()),
                }
            }
        };
        Ok(Answer::ok(answer))
    }

    /// Create an account with email and password; signs it in.
    ///
    /// Sends a verification mail. `email_taken` / `handle_taken` (409) when either is in use,
    /// including by a sign-up racing this one. Every invalid field is named at once.
    #[oai(path = "/signup", method = "post")]
    async fn signup(
        &self,
        body: JsonBody<SignupRequest>,
        request: &Request,
        request_id: RequestId,
    ) -> Result<Created<AuthTokens>, Refused<SignupRefusals>> {
        let form = SignUp {
            email: body.0.email,
            password: body.0.password,
            name: body.0.name,
            handle: body.0.handle,
        };
        let signed_in = self.identity.sign_up(form, &device(request), &request_id.command_context()).await?;
        self.remember_for_session(&signed_in).await;
        Ok(Created::new(tokens(&signed_in), signed_in.position))
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
    ) -> Result<Applied<AuthTokens>, Refused<LoginRefusals>> {
        let signed_in = self
            .identity
            .log_in(&body.0.email, body.0.password, &device(request), &request_id.command_context())
            .await?;
        self.remember_for_session(&signed_in).await;
        Ok(Applied::new(tokens(&signed_in), signed_in.position))
    }

    /// Trade a refresh token for new tokens. The refresh token is single use: presenting it
    /// again ends the whole session (`token_reused`, 401).
    #[oai(path = "/refresh", method = "post")]
    async fn refresh(
        &self,
        body: JsonBody<RefreshRequest>,
        request_id: RequestId,
    ) -> Result<Applied<AuthTokens>, Refused<RefreshRefusals>> {
        let signed_in = self.identity.refresh(&body.0.refresh_token, &request_id.command_context()).await?;
        self.remember_for_session(&signed_in).await;
        Ok(Applied::new(tokens(&signed_in), signed_in.position))
    }

    /// End the session of the access token. Its refresh token stops working at once; the
    /// access token itself expires on its own (15 minutes at most).
    #[oai(path = "/logout", method = "post")]
    async fn logout(&self, command: SignedInCommand) -> Result<Done, Refused<LogoutRefusals>> {
        let caller = command.caller();
        let position = self
            .identity
            .revoke_session(caller.user_id, caller.session_id, RevocationReason::Logout, &command.context())
            .await?;
        Ok(Done::at(position))
    }

    /// The signed-in user's own account.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, auth: BearerAuth) -> Result<Answer<UserView>, Refused<MeRefusals>> {
        let account = self.identity.account(auth.0.user_id).await?;
        Ok(Answer::ok(UserView::of(auth.0.user_id, &account)))
    }

    /// The signed-in user's live sessions (devices), newest first.
    #[oai(path = "/sessions", method = "get")]
    async fn sessions(
        &self,
        auth: BearerAuth,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<SessionList>, Refused<SessionsRefusals>> {
        let freshness =
            self.state.wait_for_position(Some(&auth.0), position.0.as_deref(), &[UserSessions::NAME]).await?;
        let rows = read::sessions::active_sessions(&self.state.pool, auth.0.user_id, Utc::now()).await?;
        let data: Vec<SessionView> = rows
            .into_iter()
            .map(|row| SessionView {
                id: row.session_id,
                device: row.device,
                ip: row.ip,
                started_at: row.started_at.into(),
                last_used_at: row.last_used_at.into(),
                expires_at: row.expires_at.into(),
                current: row.session_id == auth.0.session_id,
            })
            .collect();
        let pagination = Pagination::whole(data.len());
        Ok(ReadResponse::ok(SessionList { data, pagination }, freshness))
    }

    /// End one of the signed-in user's sessions (sign a device out). Another user's session
    /// is `session_not_found` (404), like one that does not exist.
    #[oai(path = "/sessions/:sessionId", method = "delete")]
    async fn revoke_session(
        &self,
        command: SignedInCommand,
        /// The session to end (an `id` of `GET /api/auth/sessions`).
        #[oai(name = "sessionId")]
        session_id: Path<Uuid>,
    ) -> Result<Done, Refused<RevokeSessionRefusals>> {
        let position = self
            .identity
            .revoke_session(
                command.caller().user_id,
                session_id.0,
                RevocationReason::Revoked,
                &command.context(),
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
    ) -> Result<Done, Refused<VerifyEmailRefusals>> {
        let change = self.identity.verify_email(&body.0.token, &request_id.command_context()).await?;
        Ok(Done::at(change.position))
    }

    /// Send the verification mail again (nothing happens when the address is verified).
    #[oai(path = "/resend-verification", method = "post")]
    async fn resend_verification(
        &self,
        command: SignedInCommand,
    ) -> Result<Later<Accepted>, Refused<ResendVerificationRefusals>> {
        self.identity.resend_verification(command.caller().user_id, &command.context()).await?;
        Ok(Later::Accepted(Json(Accepted {
            message: "if the address is unverified, a mail is on its way".into(),
        })))
    }

    /// Ask for a password reset mail. 202 whether or not the address has an account; a few an
    /// hour per address (then 429 `rate_limited`, also whether or not it has an account).
    #[oai(path = "/forgot-password", method = "post")]
    async fn forgot_password(
        &self,
        body: JsonBody<EmailRequest>,
        request_id: RequestId,
    ) -> Result<Later<Accepted>, Refused<ForgotPasswordRefusals>> {
        self.identity.forgot_password(&body.0.email, &request_id.command_context()).await?;
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
    ) -> Result<Done, Refused<ResetPasswordRefusals>> {
        let change = self
            .identity
            .reset_password(&body.0.token, body.0.password, &request_id.command_context())
            .await?;
        Ok(Done::at(change.position))
    }

    /// Change the password, knowing the current one. Every session ends; the answer is a
    /// new one for this device.
    #[oai(path = "/change-password", method = "post")]
    async fn change_password(
        &self,
        command: SignedInCommand,
        body: JsonBody<ChangePasswordRequest>,
        request: &Request,
    ) -> Result<Applied<AuthTokens>, Refused<ChangePasswordRefusals>> {
        let signed_in = self
            .identity
            .change_password(
                command.caller().user_id,
                body.0.current_password,
                body.0.new_password,
                &device(request),
                &command.context(),
            )
            .await?;
        self.remember_for_session(&signed_in).await;
        Ok(Applied::new(tokens(&signed_in), signed_in.position))
    }

    /// Text a six-digit sign-in code to a phone number. The code lives 5 minutes; another
    /// can be sent after 60 seconds (`code_cooldown`, 429, before that).
    #[oai(path = "/send-code", method = "post")]
    async fn send_code(
        &self,
        body: JsonBody<SendCodeRequest>,
        request_id: RequestId,
    ) -> Result<Later<CodeSentView>, Refused<SendCodeRefusals>> {
        let sent = self.identity.send_code(&body.0.phone_number, &request_id.command_context()).await?;
        Ok(Later::Accepted(Json(CodeSentView {
            expires_in: sent.expires_in_seconds,
            resend_after: sent.resend_after_seconds,
        })))
    }

    /// Sign in with a phone number and its code; creates the account on first use.
    ///
    /// 200 either way; `isNewUser` says whether the account was just made. 5 wrong codes end
    /// the code (`too_many_attempts`). Every invalid field is named at once, before the code
    /// is tried.
    #[oai(path = "/verify-phone", method = "post")]
    async fn verify_phone(
        &self,
        body: JsonBody<VerifyPhoneRequest>,
        request: &Request,
        request_id: RequestId,
    ) -> Result<Applied<PhoneAuthTokens>, Refused<VerifyPhoneRefusals>> {
        let body = body.0;
        let result = self
            .identity
            .verify_phone(
                &body.phone_number,
                &body.code,
                body.name,
                body.handle,
                &device(request),
                &request_id.command_context(),
            )
            .await?;
        self.remember_for_session(&result.signed_in).await;
        let answer = PhoneAuthTokens { tokens: tokens(&result.signed_in), is_new_user: result.new_account };
        Ok(Applied::new(answer, result.signed_in.position))
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

    /// `row` as `viewer` may see it, with its counts when shown whole; `user_not_found` when
    /// its user blocked the viewer.
    async fn profile_as_seen(&self, row: &read::ProfileRow, viewer: Uuid) -> Result<PublicUser, AuthError> {
        let relation = social::graph::relation(&self.state.pool, viewer, row.user_id).await?;
        if relation.blocked_by && !relation.is_self {
            return Err(AuthError::UserNotFound);
        }
        let counts = social::graph::counts(&self.state.pool, row.user_id).await?;
        Ok(PublicUser::seen_by(row, &relation).with_counts(counts))
    }
}

#[OpenApi(prefix_path = "/users", tag = "Tag::Users")]
impl UsersApi {
    /// The signed-in user's own account (same as `/api/auth/me`).
    #[oai(path = "/me", method = "get")]
    async fn me(&self, auth: BearerAuth) -> Result<Answer<UserView>, Refused<MeRefusals>> {
        let account = self.identity.account(auth.0.user_id).await?;
        Ok(Answer::ok(UserView::of(auth.0.user_id, &account)))
    }

    /// Find users by handle or name: prefix matches first, then similar spellings. A user
    /// whose profile is not public is found only by their exact handle, as their card.
    #[oai(path = "/search", method = "get")]
    async fn search(
        &self,
        auth: BearerAuth,
        /// What to look for (1 to 100 characters; a leading `@` is ignored).
        q: Query<String>,
        limit: PageLimit,
        cursor: PageCursor,
    ) -> Result<Answer<UserPage>, Refused<SearchRefusals>> {
        let query = q.0.trim().trim_start_matches('@').trim().to_owned();
        if query.is_empty() || query.chars().count() > 100 {
            return Err(
                AuthError::field("q", field_codes::INVALID_LENGTH, "must be 1 to 100 characters").into()
            );
        }
        let after = cursor.decode(SearchCursor::decode)?;
        let viewer = auth.0.user_id;
        let audience = social::graph::search_audience(&self.state.pool, viewer).await?;
        let rows =
            read::profiles::search(&self.state.pool, &query, viewer, &audience, after, limit.get()).await?;
        let pagination = Pagination::of(limit, &rows, |(_, cursor)| cursor.encode());
        let ids: Vec<Uuid> = rows.iter().map(|(row, _)| row.user_id).collect();
        let relations = social::graph::relations(&self.state.pool, viewer, &ids).await?;
        let data = rows
            .iter()
            .map(|(row, _)| {
                PublicUser::seen_by(row, &relations.get(&row.user_id).copied().unwrap_or_default())
            })
            .collect();
        Ok(Answer::ok(UserPage { data, pagination }))
    }

    /// A user's profile as you may see it, with what they are to you (`relationship`): whole
    /// (with their counts) when their privacy setting shows it to you — `public`, `friends` to
    /// friends, and your own — and their card (id, handle, name, avatar; `private: true`)
    /// otherwise. A user who blocked you is not found.
    #[oai(path = "/:userId", method = "get")]
    async fn user(
        &self,
        auth: BearerAuth,
        /// The user's id.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<PublicUser>, Refused<UserRefusals>> {
        let freshness = self
            .state
            .wait_for_position(
                Some(&auth.0),
                position.0.as_deref(),
                &[UserProfiles::NAME, SocialReadModel::NAME],
            )
            .await?;
        let row =
            read::profiles::profile(&self.state.pool, user_id.0).await?.ok_or(AuthError::UserNotFound)?;
        Ok(ReadResponse::ok(self.profile_as_seen(&row, auth.0.user_id).await?, freshness))
    }

    /// A user's profile by handle (with or without `@`), as `GET /users/{userId}` shows it.
    #[oai(path = "/handle/:handle", method = "get")]
    async fn user_by_handle(
        &self,
        auth: BearerAuth,
        /// The handle.
        handle: Path<String>,
        #[oai(name = "Loopync-Position")] position: Header<Option<String>>,
    ) -> Result<ReadResponse<PublicUser>, Refused<UserRefusals>> {
        let freshness = self
            .state
            .wait_for_position(
                Some(&auth.0),
                position.0.as_deref(),
                &[UserProfiles::NAME, SocialReadModel::NAME],
            )
            .await?;
        let handle = handle.0.trim().trim_start_matches('@').to_lowercase();
        let row = read::profiles::profile_by_handle(&self.state.pool, &handle)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        Ok(ReadResponse::ok(self.profile_as_seen(&row, auth.0.user_id).await?, freshness))
    }

    /// Change one's own profile. A new handle must be free (`handle_taken`, 409). Every
    /// invalid field is named at once.
    #[oai(path = "/:userId/profile", method = "patch")]
    async fn update_profile(
        &self,
        command: SignedInCommand,
        /// The user's id: one's own.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
        body: JsonBody<ProfilePatch>,
    ) -> Result<Applied<UserView>, Refused<UpdateProfileRefusals>> {
        command.caller().require_self(user_id.0)?;
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
        let changed = self.identity.update_profile(user_id.0, change, &command.context()).await?;
        Ok(Applied::new(UserView::of(user_id.0, &changed.account), changed.position))
    }

    /// One's own settings.
    #[oai(path = "/:userId/settings", method = "get")]
    async fn settings(
        &self,
        auth: BearerAuth,
        /// The user's id: one's own.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
    ) -> Result<Answer<SettingsView>, Refused<SettingsRefusals>> {
        auth.0.require_self(user_id.0)?;
        let account = self.identity.account(user_id.0).await?;
        Ok(Answer::ok((&account.settings).into()))
    }

    /// Change some of one's own settings: absent ones stay as they are.
    ///
    /// Merged onto the settings as they are when the change is decided, so two devices that
    /// change different settings at the same time both keep their change.
    #[oai(path = "/:userId/settings", method = "patch")]
    async fn patch_settings(
        &self,
        command: SignedInCommand,
        /// The user's id: one's own.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
        body: JsonBody<SettingsPatchRequest>,
    ) -> Result<Applied<SettingsView>, Refused<UpdateSettingsRefusals>> {
        command.caller().require_self(user_id.0)?;
        let changed = self.identity.patch_settings(user_id.0, body.0.into(), &command.context()).await?;
        Ok(Applied::new((&changed.account.settings).into(), changed.position))
    }

    /// Replace all of one's own settings (kept for older clients; prefer `PATCH`, which does
    /// not undo another device's change).
    #[oai(path = "/:userId/settings", method = "put")]
    async fn replace_settings(
        &self,
        command: SignedInCommand,
        /// The user's id: one's own.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
        body: JsonBody<SettingsView>,
    ) -> Result<Applied<SettingsView>, Refused<UpdateSettingsRefusals>> {
        command.caller().require_self(user_id.0)?;
        let changed = self.identity.update_settings(user_id.0, body.0.into(), &command.context()).await?;
        Ok(Applied::new((&changed.account.settings).into(), changed.position))
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
#[oai(rename_all = "camelCase", example)]
pub struct UserRole {
    pub user_id: Uuid,
    pub role: RoleName,
}

impl Example for UserRole {
    fn example() -> Self {
        Self { user_id: Uuid::from_u128(0x0193_a0c4_6c1e_7d2a_9b1f_3f5e_8d2c_4a10), role: RoleName::Auditor }
    }
}

#[OpenApi(prefix_path = "/admin", tag = "Tag::Admin")]
impl AdminApi {
    /// Set a user's role (admins only). Admins manage users, verified users and admins; only
    /// a founder makes or unmakes a founder (`role_change_not_allowed`, 403).
    #[oai(path = "/users/:userId/role", method = "put")]
    async fn set_role(
        &self,
        command: SignedInCommand,
        /// The user whose role changes.
        #[oai(name = "userId")]
        user_id: Path<Uuid>,
        body: JsonBody<RoleChangeRequest>,
    ) -> Result<Applied<UserRole>, Refused<SetRoleRefusals>> {
        let admin = command.caller();
        let admin_role = self.identity.require_admin(admin).await?;
        let changed = self
            .identity
            .change_role(admin.user_id, admin_role, user_id.0, body.0.role.into(), &command.context())
            .await?;
        Ok(Applied::new(UserRole { user_id: user_id.0, role: changed.account.role.into() }, changed.position))
    }
}
