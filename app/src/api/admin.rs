//! The administrator's server functions: pipeline tokens, people, and the audit log.

use super::session::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use palisade_types::people::{ApiTokenView, UserView};

/// A pipeline token just created: the only time its value is shown.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedApiTokenView {
    pub id: i64,
    pub role: Role,
    pub token: String,
}

impl std::fmt::Debug for CreatedApiTokenView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a token in debug output or logs.
        f.debug_struct("CreatedApiTokenView")
            .field("id", &self.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    pub address: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
}

/// The pipeline tokens, newest first, and the console's clock.
#[server(endpoint = "list-api-tokens")]
pub async fn list_api_tokens() -> Result<(Vec<ApiTokenView>, i64), ServerFnError> {
    let console = super::console_for::<ListApiTokens>()?;
    let tokens = console
        .api_tokens()
        .list()
        .await
        .map_err(super::server_error)?;
    Ok((tokens, palisade_console::clock::now_ms()))
}

/// Creates a pipeline token with `role` (its value is shown once).
#[server(endpoint = "create-api-token")]
pub async fn create_api_token(
    role: Role,
    label: String,
) -> Result<CreatedApiTokenView, ServerFnError> {
    let console = super::console_for::<CreateApiToken>()?;
    let created = console
        .api_tokens()
        .create(&super::actor(), role, &label)
        .await
        .map_err(super::server_error)?;
    Ok(CreatedApiTokenView {
        id: created.id,
        role: created.role,
        token: created.token,
    })
}

/// Revokes a pipeline token: refused from its next request on.
#[server(endpoint = "revoke-api-token")]
pub async fn revoke_api_token(id: i64) -> Result<(), ServerFnError> {
    let console = super::console_for::<RevokeApiToken>()?;
    console
        .api_tokens()
        .revoke(&super::actor(), id)
        .await
        .map_err(super::server_error)
}

/// Every account, by name.
#[server(endpoint = "list-users")]
pub async fn list_users() -> Result<Vec<UserView>, ServerFnError> {
    let console = super::console_for::<ListUsers>()?;
    let users = console.users().list().await.map_err(super::server_error)?;
    Ok(users.into_iter().map(Into::into).collect())
}

/// A new local account.
#[server(endpoint = "add-user")]
pub async fn add_user(username: String, password: String, role: Role) -> Result<(), ServerFnError> {
    let console = super::console_for::<AddUser>()?;
    console
        .users()
        .add(&super::actor(), &username, &password, role)
        .await
        .map(|_| ())
        .map_err(super::server_error)
}

/// Removes an account (not the last admin).
#[server(endpoint = "remove-user")]
pub async fn remove_user(username: String) -> Result<(), ServerFnError> {
    let console = super::console_for::<RemoveUser>()?;
    console
        .users()
        .remove(&super::actor(), &username)
        .await
        .map_err(super::server_error)
}

/// The newest audit entries, older than `before` (an entry id) when given.
#[server(endpoint = "list-audit")]
pub async fn list_audit(before: Option<i64>) -> Result<Vec<AuditView>, ServerFnError> {
    let console = super::console_for::<ListAudit>()?;
    let entries = console
        .audit_log()
        .list(200, before)
        .await
        .map_err(super::server_error)?;
    Ok(entries.into_iter().map(Into::into).collect())
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use palisade_console::auth::audit;

    impl From<audit::AuditEntry> for AuditView {
        fn from(entry: audit::AuditEntry) -> Self {
            AuditView {
                id: entry.id,
                at: palisade_console::clock::rfc3339(entry.at),
                actor: entry.actor,
                address: entry.address,
                action: entry.action,
                target: entry.target,
                outcome: entry.outcome,
            }
        }
    }
}
