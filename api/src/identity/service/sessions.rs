//! Signing up and in: accounts with their claims, sessions, rotating refresh tokens, sign-out.

use super::*;

impl Identity {
    /// `POST /auth/signup`.
    pub async fn sign_up(
        &self,
        form: SignUp,
        device: &Device,
        base: &CommandContext,
    ) -> Result<SignedIn, AuthError> {
        let mut errors = Vec::new();
        let email = parse("email", Email::parse(&form.email), &mut errors);
        let handle = parse("handle", Handle::parse(&form.handle), &mut errors);
        let name = parse("name", DisplayName::parse(&form.name), &mut errors);
        match &email {
            Some(email) => {
                parse("password", check_password(&form.password, email), &mut errors);
            }
            // Without a valid email only the length can be checked; it still is, so that every
            // invalid field is named at once.
            None if !(8..=128).contains(&form.password.chars().count()) => {
                errors.push(identity_problem("password", &IdentityError::PasswordLength));
            }
            None => {}
        }
        let (Some(email), Some(handle), Some(name), true) = (email, handle, name, errors.is_empty()) else {
            return Err(AuthError::Invalid(errors));
        };
        let password_hash = self.passwords.hash(form.password).await?;
        let user_id = Uuid::now_v7();
        let now = Utc::now();
        let verification = mint_opaque(user_id);
        let registration = Registration {
            email: Some(email.clone()),
            phone: None,
            handle: handle.clone(),
            name,
            password_hash: Some(password_hash),
            email_verification: Some(TokenChallenge {
                token_hash: verification.hash.clone(),
                expires_at: now + self.config.email_verification_ttl,
            }),
            at: now,
        };
        let outcome = self.register(user_id, registration, base).await?;
        self.send_verification_mail(&email, &verification);
        let mut signed_in = self.start_session(user_id, &outcome.account, device, base).await?;
        signed_in.position = signed_in.position.max(outcome.position);
        Ok(signed_in)
    }

    /// Creates an account with its two claims (email or phone, and handle) in one append.
    pub(super) async fn register(
        &self,
        user_id: Uuid,
        registration: Registration,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        let outcome = self
            .pipeline
            .decide(&Register { user_id, registration }, &self.context(Some(user_id), base))
            .await
            .map_err(|error| {
                command_error(error, |refusal| match refusal {
                    RegistrationError::EmailTaken => AuthError::EmailTaken,
                    RegistrationError::PhoneTaken => AuthError::PhoneTaken,
                    RegistrationError::HandleTaken => AuthError::HandleTaken,
                    RegistrationError::NoSignInValue => AuthError::internal(refusal),
                    RegistrationError::Account(error) => account_refusal(error),
                })
            })?;
        let account = Account::default().fold(&outcome.events.0);
        Ok(AccountChange { account, position: outcome.position })
    }

    /// Starts a session for an account and mints its tokens.
    pub(super) async fn start_session(
        &self,
        user_id: Uuid,
        account: &Account,
        device: &Device,
        base: &CommandContext,
    ) -> Result<SignedIn, AuthError> {
        let session_id = Uuid::now_v7();
        let refresh = mint_opaque(session_id);
        let now = Utc::now();
        let command = SessionCommand::Start {
            account_id: user_id.to_string(),
            credentials_epoch: account.credentials_epoch,
            refresh: TokenChallenge {
                token_hash: refresh.hash.clone(),
                expires_at: now + self.config.refresh_ttl,
            },
            device: device.user_agent.as_ref().map(|agent| agent.chars().take(200).collect()),
            ip: device.ip.clone(),
            at: now,
        };
        let outcome = self
            .pipeline
            .execute::<Session>(session_id, command, &self.context(Some(user_id), base))
            .await
            .map_err(|error| command_error(error, |_| AuthError::internal("a session id was reused")))?;
        self.signed_in(
            IssuedSession { user_id, session_id, refresh_token: refresh.token, now },
            account.clone(),
            outcome.position,
        )
    }

    /// Mints the access token of a session that has just started or rotated its refresh token.
    fn signed_in(
        &self,
        session: IssuedSession,
        account: Account,
        position: Option<Position>,
    ) -> Result<SignedIn, AuthError> {
        let IssuedSession { user_id, session_id, refresh_token, now } = session;
        let (access_token, access_expires_at) =
            self.tokens.issue_access(user_id, session_id, account.role, now).map_err(AuthError::internal)?;
        Ok(SignedIn {
            user_id,
            session_id,
            access_token,
            access_expires_at,
            refresh_token,
            account,
            position,
        })
    }

    /// `POST /auth/login`. Unknown emails and wrong passwords take the same time and get the
    /// same answer; after too many failures for one address, every attempt is 429 for a while.
    pub async fn log_in(
        &self,
        email: &str,
        password: String,
        device: &Device,
        base: &CommandContext,
    ) -> Result<SignedIn, AuthError> {
        // Not an address, or a password no account can have: certainly no match, and no bcrypt
        // spent on it. Answering at once reveals nothing: the reason is in the request itself.
        let Ok(email) = Email::parse(email) else { return Err(AuthError::InvalidCredentials) };
        if !(8..=128).contains(&password.chars().count()) {
            return Err(AuthError::InvalidCredentials);
        }
        self.limits.login_failures.take(email.as_str()).await?;
        let account = match self.owner_of(EMAIL, email.as_str()).await? {
            Some(user_id) => Some((user_id, self.account(user_id).await?)),
            None => None,
        };
        let hash = account.as_ref().and_then(|(_, account)| account.password_hash.clone());
        let matches = self.passwords.verify(password, hash).await?;
        let Some((user_id, account)) = account.filter(|_| matches) else {
            return Err(AuthError::InvalidCredentials);
        };
        self.limits.login_failures.forgive(email.as_str()).await?;
        self.start_session(user_id, &account, device, base).await
    }

    /// `POST /auth/refresh`: rotates the refresh token. A rotated token presented again ends
    /// the session for every holder.
    pub async fn refresh(&self, refresh_token: &str, base: &CommandContext) -> Result<SignedIn, AuthError> {
        let (session_id, presented_hash) = parse_opaque(refresh_token).ok_or(AuthError::InvalidToken)?;
        let session = self.pipeline.load_latest::<Session>(StreamName::of::<Session>(session_id)).await?;
        let user_id = session
            .state
            .account_id
            .as_deref()
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or(AuthError::InvalidToken)?;
        let account = self.account(user_id).await.map_err(|_| AuthError::InvalidToken)?;
        let now = Utc::now();
        let next = mint_opaque(session_id);
        let command = SessionCommand::Refresh {
            presented_hash,
            next: TokenChallenge { token_hash: next.hash.clone(), expires_at: now + self.config.refresh_ttl },
            account_epoch: account.credentials_epoch,
            at: now,
        };
        let outcome = self
            .pipeline
            .execute::<Session>(session_id, command, &self.context(Some(user_id), base))
            .await
            .map_err(|error| {
                command_error(error, |refusal| match refusal {
                    SessionError::UnknownToken | SessionError::AlreadyStarted => AuthError::InvalidToken,
                    SessionError::Expired => AuthError::TokenExpired,
                    SessionError::Ended => AuthError::SessionEnded,
                })
            })?;
        if outcome.events.iter().any(|event| matches!(event, SessionEvent::Revoked(_))) {
            tracing::warn!(%session_id, %user_id, "a rotated refresh token was reused; the session is revoked");
            self.sessions.end(Ending::Session(session_id)).await;
            return Err(AuthError::TokenReused);
        }
        self.signed_in(
            IssuedSession { user_id, session_id, refresh_token: next.token, now },
            account,
            outcome.position,
        )
    }

    /// Ends a session of `user_id` (`logout`, or `DELETE /auth/sessions/{id}`). Another
    /// user's session is `SessionNotFound`, exactly like a session that does not exist.
    pub async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        reason: RevocationReason,
        base: &CommandContext,
    ) -> Result<Option<Position>, AuthError> {
        let session = self.pipeline.load_latest::<Session>(StreamName::of::<Session>(session_id)).await?;
        if session.state.account_id.as_deref() != Some(user_id.to_string().as_str()) {
            return Err(AuthError::SessionNotFound);
        }
        let command = SessionCommand::Revoke { reason, at: Utc::now() };
        let outcome = self
            .pipeline
            .execute::<Session>(session_id, command, &self.context(Some(user_id), base))
            .await
            .map_err(|error| command_error(error, |_| AuthError::SessionNotFound))?;
        self.sessions.end(Ending::Session(session_id)).await;
        Ok(outcome.position)
    }

    /// Whether the session of an access token is live, as [`SessionGate`] knows it or, when
    /// it has no trusted verdict, as the event store says. Every authenticated request asks.
    pub async fn session_is_current(&self, user_id: Uuid, session_id: Uuid) -> Result<bool, AuthError> {
        if let Some(known) = self.sessions.known(user_id, session_id) {
            return Ok(known);
        }
        let started = std::time::Instant::now();
        match self.session_check(user_id, session_id).await? {
            SessionCheck::Live(live) => {
                self.sessions.record(user_id, session_id, live, started);
                Ok(live)
            }
            // Not recorded: the verdict is about this claim, and the session may well be live
            // for the account it belongs to.
            SessionCheck::AnotherAccounts => Ok(false),
        }
    }

    /// Whether a session is live for `user_id`: the account's, not revoked, and not ended by
    /// a password change (asked of the event store). A session or account that does not exist
    /// is not live: that is an answer, not a failure to check.
    pub async fn session_is_live(&self, user_id: Uuid, session_id: Uuid) -> Result<bool, AuthError> {
        Ok(matches!(self.session_check(user_id, session_id).await?, SessionCheck::Live(true)))
    }

    async fn session_check(&self, user_id: Uuid, session_id: Uuid) -> Result<SessionCheck, AuthError> {
        let session = self.pipeline.load_latest::<Session>(StreamName::of::<Session>(session_id)).await?;
        match session.state.account_id.as_deref() {
            None => return Ok(SessionCheck::Live(false)),
            Some(owner) if owner != user_id.to_string() => return Ok(SessionCheck::AnotherAccounts),
            Some(_) => {}
        }
        match self.account(user_id).await {
            Ok(account) => Ok(SessionCheck::Live(session.state.is_live(account.credentials_epoch))),
            Err(AuthError::UserNotFound) => Ok(SessionCheck::Live(false)),
            Err(error) => Err(error),
        }
    }
}

/// What the event store says of a token's session.
enum SessionCheck {
    /// The session is the token's account's (or does not exist): live or not.
    Live(bool),
    /// The session belongs to another account: not live for this token, whatever it is for
    /// its own.
    AnotherAccounts,
}

/// A session's identity and its new refresh token, at the moment they were issued.
struct IssuedSession {
    user_id: Uuid,
    session_id: Uuid,
    refresh_token: String,
    now: DateTime<Utc>,
}
