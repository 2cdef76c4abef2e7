//! Signing in by phone: SMS codes sent and checked, accounts made for new numbers.

use super::*;

/// The field code of a code that is not six digits.
const INVALID_CODE_FORMAT: &str = "invalid_code_format";

impl Identity {
    /// `POST /auth/send-code`.
    pub async fn send_code(&self, phone: &str, base: &CommandContext) -> Result<CodeSent, AuthError> {
        let phone = PhoneNumber::parse(phone).map_err(|e| AuthError::identity("phoneNumber", &e))?;
        // A few codes an hour per number, from however many addresses: nobody can flood a
        // phone with them (nor run up the SMS bill).
        self.limits.codes_sent.take(phone.as_str()).await?;
        let code = six_digit_code();
        let now = Utc::now();
        let command = PhoneCodeCommand::Send {
            code_hash: self.tokens.code_hash(phone.as_str(), &code),
            at: now,
            valid_for_seconds: self.config.code_ttl.as_secs() as i64,
            resend_after_seconds: self.config.code_resend_after.as_secs() as i64,
        };
        self.pipeline
            .execute::<PhoneCode>(phone.as_str(), command, &self.context(None, base))
            .await
            .map_err(|error| {
                command_error(error, |refusal| match refusal {
                    PhoneCodeError::Cooldown(at) => AuthError::CodeCooldown {
                        retry_after: (at - now).num_seconds().clamp(1, i64::from(u32::MAX)) as u32,
                    },
                    other => AuthError::internal(other),
                })
            })?;
        let minutes = self.config.code_ttl.as_secs() / 60;
        let sms = Sms {
            to: phone.to_string(),
            text: format!("{code} is your Loopync code. It expires in {minutes} minutes."),
        };
        // Sent inline: the client needs to know whether a code is on its way.
        self.sms.send(sms).await.map_err(|error| {
            tracing::warn!(%error, "sign-in code could not be sent");
            AuthError::DeliveryUnavailable
        })?;
        Ok(CodeSent {
            expires_in_seconds: self.config.code_ttl.as_secs(),
            resend_after_seconds: self.config.code_resend_after.as_secs(),
        })
    }

    /// `POST /auth/verify-phone`: signs in the account of that number, or creates one.
    pub async fn verify_phone(
        &self,
        phone: &str,
        code: &str,
        name: Option<String>,
        handle: Option<String>,
        device: &Device,
        base: &CommandContext,
    ) -> Result<PhoneSignIn, AuthError> {
        // Every field is checked before the code is tried (a wrong handle must not use up the
        // code), and every bad one is named at once.
        let mut errors = Vec::new();
        let phone = parse("phoneNumber", PhoneNumber::parse(phone), &mut errors);
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(FieldProblem::new("code", INVALID_CODE_FORMAT, "a code is six digits"));
        }
        let handle = handle.map(|h| parse("handle", Handle::parse(&h), &mut errors));
        let name = name.map(|n| parse("name", DisplayName::parse(&n), &mut errors));
        let (Some(phone), true) = (phone, errors.is_empty()) else {
            return Err(AuthError::Invalid(errors));
        };
        // A handle someone holds would fail the sign-up after the code is used up: refuse
        // first, while the code is still good. (A race for the handle in between is rare; the
        // claim still decides it.) Refused whether or not the number has an account, which
        // would ignore the handle: answering differently would tell anyone who tries a known
        // handle whether a number is registered. The handle is for new accounts only.
        if let Some(Some(wanted)) = &handle
            && self.owner_of(HANDLE, wanted.as_str()).await?.is_some()
        {
            return Err(AuthError::HandleTaken);
        }
        // Wrong codes are counted per number over a window, whichever code they were tried
        // against: a new code every minute must not bring five new guesses.
        self.limits.code_failures.take(phone.as_str()).await?;
        let command = PhoneCodeCommand::Verify {
            code_hash: self.tokens.code_hash(phone.as_str(), code),
            at: Utc::now(),
            max_attempts: self.config.code_attempts,
        };
        let outcome = self
            .pipeline
            .execute::<PhoneCode>(phone.as_str(), command, &self.context(None, base))
            .await
            .map_err(|error| {
                command_error(error, |refusal| match refusal {
                    PhoneCodeError::NoCode => AuthError::NoCodePending,
                    PhoneCodeError::Expired => AuthError::CodeExpired,
                    PhoneCodeError::TooManyAttempts => AuthError::TooManyAttempts,
                    PhoneCodeError::Cooldown(_) => AuthError::internal("cooldown on verify"),
                })
            })?;
        if let Some(PhoneCodeEvent::AttemptFailed(failed)) = outcome.events.first() {
            let remaining = self.config.code_attempts.saturating_sub(failed.failed_attempts);
            return Err(AuthError::InvalidCode { remaining });
        }
        self.limits.code_failures.forgive(phone.as_str()).await?;
        if let Some(user_id) = self.owner_of(PHONE, phone.as_str()).await? {
            let account = self.account(user_id).await?;
            let signed_in = self.start_session(user_id, &account, device, base).await?;
            return Ok(PhoneSignIn { signed_in, new_account: false });
        }
        let user_id = Uuid::now_v7();
        let handle = match handle.flatten() {
            Some(handle) => handle,
            // `user_` and 12 hex digits of the id's random part: practically never taken.
            None => Handle::parse(&format!("user_{}", &user_id.simple().to_string()[20..]))
                .map_err(AuthError::internal)?,
        };
        let name = match name.flatten() {
            Some(name) => name,
            None => DisplayName::parse(handle.as_str()).map_err(AuthError::internal)?,
        };
        let registration = Registration {
            email: None,
            phone: Some(phone.clone()),
            handle: handle.clone(),
            name,
            password_hash: None,
            email_verification: None,
            at: Utc::now(),
        };
        let created = self.register(user_id, registration, base).await?;
        let mut signed_in = self.start_session(user_id, &created.account, device, base).await?;
        signed_in.position = signed_in.position.max(created.position);
        Ok(PhoneSignIn { signed_in, new_account: true })
    }
}
