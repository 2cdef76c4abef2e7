//! Email verification, password reset and password change, and the account mail they send.

use super::*;

impl Identity {
    pub(super) fn send_verification_mail(&self, email: &Email, token: &MintedToken) {
        let link = format!("{}/verify-email?token={}", self.config.app_url, token.token);
        self.send_mail(Mail {
            to: email.to_string(),
            subject: "Confirm your email address for Loopync".to_owned(),
            text: format!(
                "Welcome to Loopync!\n\nConfirm your email address by opening this link:\n{link}\n\n\
                 Or enter this code in the app: {}\n\nThe link expires in {} hours.",
                token.token,
                self.config.email_verification_ttl.as_secs() / 3600
            ),
        });
    }

    /// Mail goes out in the background: a slow mail server must not hold a request (and, for
    /// password resets, must not reveal by timing whether a mail was sent at all).
    pub(super) fn send_mail(&self, mail: Mail) {
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            let to = mail.to.clone();
            if let Err(error) = mailer.send(mail).await {
                tracing::warn!(%error, %to, "account mail could not be sent");
            }
        });
    }

    /// `POST /auth/verify-email`.
    pub async fn verify_email(&self, token: &str, base: &CommandContext) -> Result<AccountChange, AuthError> {
        let (user_id, token_hash) = parse_opaque(token).ok_or(AuthError::InvalidToken)?;
        // A token naming no account is just a wrong token: never say whether an id exists.
        self.change_account(user_id, None, AccountCommand::VerifyEmail { token_hash, at: Utc::now() }, base)
            .await
            .map_err(|error| match error {
                AuthError::UserNotFound => AuthError::InvalidToken,
                other => other,
            })
    }

    /// `POST /auth/resend-verification`.
    pub async fn resend_verification(&self, user_id: Uuid, base: &CommandContext) -> Result<(), AuthError> {
        let account = self.account(user_id).await?;
        let Some(email) = account.email.clone().filter(|_| !account.email_verified) else { return Ok(()) };
        self.limits.verification_mails.take(email.as_str()).await?;
        let token = mint_opaque(user_id);
        let challenge = TokenChallenge {
            token_hash: token.hash.clone(),
            expires_at: Utc::now() + self.config.email_verification_ttl,
        };
        self.change_account(
            user_id,
            Some(user_id),
            AccountCommand::RequestEmailVerification(challenge),
            base,
        )
        .await?;
        self.send_verification_mail(&email, &token);
        Ok(())
    }

    /// `POST /auth/forgot-password`: accepted whether or not the address has an account. The
    /// work happens in the background, so neither the answer nor its timing says which. Each
    /// address gets a few resets an hour, counted whether or not it has an account (so the
    /// 429 says nothing either), so nobody can flood an inbox with them.
    pub async fn forgot_password(
        self: &Arc<Self>,
        email: &str,
        base: &CommandContext,
    ) -> Result<(), AuthError> {
        let Ok(email) = Email::parse(email) else { return Ok(()) };
        self.limits.reset_mails.take(email.as_str()).await?;
        let identity = self.clone();
        let base = base.clone();
        tokio::spawn(async move {
            if let Err(error) = identity.send_password_reset(&email, &base).await {
                tracing::warn!(%error, "password reset could not be started");
            }
        });
        Ok(())
    }

    pub(super) async fn send_password_reset(
        &self,
        email: &Email,
        base: &CommandContext,
    ) -> Result<(), AuthError> {
        let Some(user_id) = self.owner_of(EMAIL, email.as_str()).await? else { return Ok(()) };
        let token = mint_opaque(user_id);
        let challenge = TokenChallenge {
            token_hash: token.hash.clone(),
            expires_at: Utc::now() + self.config.password_reset_ttl,
        };
        self.change_account(user_id, None, AccountCommand::RequestPasswordReset(challenge), base).await?;
        let link = format!("{}/reset-password?token={}", self.config.app_url, token.token);
        self.send_mail(Mail {
            to: email.to_string(),
            subject: "Reset your Loopync password".to_owned(),
            text: format!(
                "Someone asked to reset the password of your Loopync account.\n\n\
                 To choose a new password, open this link:\n{link}\n\nOr enter this code in the app: {}\n\n\
                 The link works once and expires in {} minutes. If you did not ask for this, ignore this mail.",
                token.token,
                self.config.password_reset_ttl.as_secs() / 60
            ),
        });
        Ok(())
    }

    /// `POST /auth/reset-password`: single use; ends every session of the account.
    pub async fn reset_password(
        &self,
        token: &str,
        password: String,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        let (user_id, token_hash) = parse_opaque(token).ok_or(AuthError::InvalidToken)?;
        let account = self.account(user_id).await.map_err(|_| AuthError::InvalidToken)?;
        let email = account.email.as_ref().ok_or(AuthError::InvalidToken)?;
        // The cheap checks first: a wrong or expired token costs no bcrypt. (The command checks
        // the token again, against the account as it is when the reset commits.)
        account.reset_token_check(&token_hash, Utc::now()).map_err(account_refusal)?;
        check_password(&password, email).map_err(|e| AuthError::identity("password", &e))?;
        let password_hash = self.passwords.hash(password).await?;
        self.change_account(
            user_id,
            None,
            AccountCommand::ResetPassword { token_hash, password_hash, at: Utc::now() },
            base,
        )
        .await
    }

    /// `POST /auth/change-password`: checks the current password, ends every session, and
    /// signs the caller in again on a new one.
    pub async fn change_password(
        &self,
        user_id: Uuid,
        current: String,
        new: String,
        device: &Device,
        base: &CommandContext,
    ) -> Result<SignedIn, AuthError> {
        let account = self.account(user_id).await?;
        let verified_against = account.password_hash.clone().ok_or(AuthError::NoPassword)?;
        if let Some(email) = &account.email {
            check_password(&new, email).map_err(|e| AuthError::identity("newPassword", &e))?;
        } else if !(8..=128).contains(&new.chars().count()) {
            return Err(AuthError::identity("newPassword", &IdentityError::PasswordLength));
        }
        self.limits.login_failures.take(&user_id.to_string()).await?;
        if !self
            .passwords
            .verify(current, Some(verified_against.clone()))
            .await
            .map_err(AuthError::internal)?
        {
            return Err(AuthError::InvalidCredentials);
        }
        self.limits.login_failures.forgive(&user_id.to_string()).await?;
        let password_hash = self.passwords.hash(new).await?;
        let command = AccountCommand::ChangePassword { verified_against, password_hash, at: Utc::now() };
        let changed = self.change_account(user_id, Some(user_id), command, base).await?;
        let mut signed_in = self.start_session(user_id, &changed.account, device, base).await?;
        signed_in.position = signed_in.position.max(changed.position);
        Ok(signed_in)
    }

    /// Runs one account command; the account after it.
    pub(super) async fn change_account(
        &self,
        user_id: Uuid,
        actor: Option<Uuid>,
        command: AccountCommand,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        let outcome = self
            .pipeline
            .execute::<Account>(user_id, command, &self.context(actor, base))
            .await
            .map_err(|error| command_error(error, account_refusal))?;
        if outcome.events.iter().any(|event| matches!(event, AccountEvent::PasswordChanged(_))) {
            // New credentials end every session of the old ones, on every node at once.
            self.sessions.end(Ending::Account(user_id)).await;
        }
        let account = self.account(user_id).await?;
        Ok(AccountChange { account, position: outcome.position })
    }
}
