//! Profiles (with handle changes), settings and roles.

use super::*;

impl Identity {
    /// `PATCH /users/{id}/profile`. A handle change releases the old handle and claims the new
    /// one in the same append as the account's events.
    pub async fn update_profile(
        &self,
        user_id: Uuid,
        change: ProfileChange,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        let current = self.account(user_id).await?;
        let mut errors = Vec::new();
        let name = change.name.as_ref().and_then(|name| parse("name", DisplayName::parse(name), &mut errors));
        let handle = match &change.handle {
            Some(handle) => parse("handle", Handle::parse(handle), &mut errors),
            None => current.handle.clone(),
        };
        let patch = ProfilePatch {
            name,
            bio: change.bio,
            avatar: change.avatar,
            cover_photo: change.cover_photo,
            location: change.location,
            website: change.website,
        };
        // Checked here, one field at a time, for a 400 naming every bad field at once (the
        // domain's check stops at the first); `decide` checks the merge again.
        let alone = |field: fn(&mut ProfilePatch, &ProfilePatch)| {
            let mut one = ProfilePatch::default();
            field(&mut one, &patch);
            one
        };
        let singles = [
            alone(|one, all| one.bio.clone_from(&all.bio)),
            alone(|one, all| one.avatar.clone_from(&all.avatar)),
            alone(|one, all| one.cover_photo.clone_from(&all.cover_photo)),
            alone(|one, all| one.location.clone_from(&all.location)),
            alone(|one, all| one.website.clone_from(&all.website)),
        ];
        for single in singles {
            if let Err(error) = single.applied_to(&current.profile) {
                errors.push(FieldProblem::new(error.field, field_codes::INVALID, error.reason));
            }
        }
        let (Some(handle), true) = (handle, errors.is_empty()) else {
            return Err(AuthError::Invalid(errors));
        };
        let old_handle = current.handle.clone().ok_or(AuthError::UserNotFound)?;
        if handle == old_handle {
            return self
                .change_account(user_id, Some(user_id), AccountCommand::UpdateProfile(patch), base)
                .await;
        }

        let rename = ChangeHandle { user_id, from: old_handle, to: handle, profile: patch };
        let outcome =
            self.pipeline.decide(&rename, &self.context(Some(user_id), base)).await.map_err(|error| {
                command_error(error, |refusal| match refusal {
                    HandleChangeError::HandleTaken => AuthError::HandleTaken,
                    // Another request changed the handle meanwhile: the client should reload.
                    HandleChangeError::HandleChanged => AuthError::ProfileChanged,
                    HandleChangeError::Account(error) => account_refusal(error),
                })
            })?;
        let account = self.account(user_id).await?;
        Ok(AccountChange { account, position: outcome.position })
    }

    /// `PATCH /users/{id}/settings`: the named settings change, the others stay as they are
    /// when the command is decided (not as this request read them).
    pub async fn patch_settings(
        &self,
        user_id: Uuid,
        patch: SettingsPatch,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        self.change_account(user_id, Some(user_id), AccountCommand::PatchSettings(patch), base).await
    }

    /// `PUT /users/{id}/settings`.
    pub async fn update_settings(
        &self,
        user_id: Uuid,
        settings: Settings,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        self.change_account(user_id, Some(user_id), AccountCommand::UpdateSettings(settings), base).await
    }

    /// The caller's current role, read from the account (not the token, which may be up to
    /// one access lifetime old): the one check behind every admin endpoint.
    pub async fn current_role(&self, user_id: Uuid) -> Result<Role, AuthError> {
        Ok(self.account(user_id).await.map_err(|_| AuthError::Forbidden)?.role)
    }

    /// `PUT /admin/users/{id}/role`.
    pub async fn change_role(
        &self,
        admin: Uuid,
        admin_role: Role,
        user_id: Uuid,
        role: Role,
        base: &CommandContext,
    ) -> Result<AccountChange, AuthError> {
        self.change_account(user_id, Some(admin), AccountCommand::ChangeRole { role, by: admin_role }, base)
            .await
    }
}

impl Identity {
    /// Whether `handle` is held by an account: read from its claim stream (the event store),
    /// not a read model, so a handle taken a moment ago is already taken here.
    pub async fn handle_taken(&self, handle: &Handle) -> Result<bool, AuthError> {
        let stream = StreamName::of::<UniqueClaim>(claim_id(HANDLE, handle.as_str()));
        let claim = self.pipeline.load_latest::<UniqueClaim>(stream).await?;
        Ok(claim.state.owner.is_some())
    }
}
