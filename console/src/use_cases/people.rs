//! People and pipelines: local accounts, pipeline tokens and the audit log.

use super::Actor;
use crate::auth::api_tokens::{self, ApiTokenView, CreatedApiToken};
use crate::auth::audit::{self, AuditEntry};
use crate::auth::users::{self, User};
use crate::auth::Role;
use crate::{Console, Error, Result};

/// Local accounts (`console.users()`).
pub struct Users<'c> {
    pub(super) console: &'c Console,
}

/// What changes in an account: a new password, a new role, or both.
#[derive(Clone, Default)]
pub struct UserChange {
    pub password: Option<String>,
    pub role: Option<Role>,
}

impl std::fmt::Debug for UserChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password in debug output or logs.
        f.debug_struct("UserChange")
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("role", &self.role)
            .finish()
    }
}

impl Users<'_> {
    /// Every account, by name.
    pub async fn list(&self) -> Result<Vec<User>> {
        users::list(&self.console.db).await
    }

    /// A new local account with `role`.
    pub async fn add(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<User> {
        let added = users::create(&self.console.db, username, password, role).await;
        let target = format!("{username} ({role})");
        self.console
            .audited(actor, "user-add", &target, added)
            .await
    }

    /// A new password (the account's sessions end), a new role (never demoting the last admin),
    /// or both; asking for neither is a mistake, not a success.
    pub async fn change(&self, actor: &Actor, username: &str, change: UserChange) -> Result<()> {
        let changed = async {
            if change.role.is_none() && change.password.is_none() {
                return Err(Error::invalid("give a new password, a new role, or both"));
            }
            if let Some(role) = change.role {
                users::set_role(&self.console.db, username, role).await?;
            }
            if let Some(password) = &change.password {
                users::set_password(&self.console.db, username, password).await?;
            }
            Ok(())
        }
        .await;
        let target = match (change.role, &change.password) {
            (Some(role), Some(_)) => format!("{username}: role {role}, password"),
            (Some(role), None) => format!("{username}: role {role}"),
            (None, Some(_)) => format!("{username}: password"),
            (None, None) => username.to_owned(),
        };
        self.console
            .audited(actor, "user-change", &target, changed)
            .await
    }

    /// Removes an account (never the last admin).
    pub async fn remove(&self, actor: &Actor, username: &str) -> Result<()> {
        let removed = users::remove(&self.console.db, username).await;
        self.console
            .audited(actor, "user-remove", username, removed)
            .await
    }

    /// At the first start, the `admin` account with `password`, or a generated one (answered,
    /// to be shown once). `None` when accounts exist already.
    pub async fn ensure_first_admin(&self, password: Option<&str>) -> Result<Option<String>> {
        users::ensure_first_admin(&self.console.db, password).await
    }
}

/// Pipeline tokens (`console.api_tokens()`).
pub struct ApiTokens<'c> {
    pub(super) console: &'c Console,
}

impl ApiTokens<'_> {
    /// The pipeline tokens, never their values.
    pub async fn list(&self) -> Result<Vec<ApiTokenView>> {
        api_tokens::list(&self.console.db).await
    }

    /// A new pipeline token with `role`, created by `actor` (shown once).
    pub async fn create(&self, actor: &Actor, role: Role, label: &str) -> Result<CreatedApiToken> {
        let created = api_tokens::create(&self.console.db, role, label, &actor.name()).await;
        let target = format!("{role} ({})", label.trim());
        self.console
            .audited(actor, "api-token-create", &target, created)
            .await
    }

    /// Revokes a pipeline token: refused from its next request on.
    pub async fn revoke(&self, actor: &Actor, id: i64) -> Result<()> {
        let revoked = api_tokens::revoke(&self.console.db, id).await;
        self.console
            .audited(actor, "api-token-revoke", &format!("token {id}"), revoked)
            .await
    }
}

/// The audit log (`console.audit_log()`).
pub struct AuditLog<'c> {
    pub(super) console: &'c Console,
}

impl AuditLog<'_> {
    /// The most entries one page reads.
    pub const MAX_PAGE: i64 = 1000;

    /// The newest `limit` entries (at most [`AuditLog::MAX_PAGE`]), older than entry `before`
    /// when given.
    pub async fn list(&self, limit: i64, before: Option<i64>) -> Result<Vec<AuditEntry>> {
        audit::list(&self.console.db, limit.clamp(1, Self::MAX_PAGE), before).await
    }
}
