//! People and pipelines: roles, who is signed in, accounts, pipeline tokens and the audit log as
//! the console keeps them and the pages, the REST API and the CLI list them.

use serde::{Deserialize, Serialize};

/// What a principal may do, each role including the ones below it: what the console checks, the
/// pages compare and the API writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees defenders, revisions and generations; never a secret.
    Viewer,
    /// Also generates, registers and imports.
    Operator,
    /// Also users, settings, registries, tokens and the audit log.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// A role by name, or how to write one.
    pub fn parse(name: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == name.trim())
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no role (the console refuses it as invalid input).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl std::fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not a role: use admin, operator or viewer",
            self.0
        )
    }
}

impl std::error::Error for UnknownRole {}

/// The person (or pipeline) signed in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub name: String,
    pub role: Role,
}

impl Me {
    /// They may do what `role` may.
    pub fn may(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// A pipeline token just created: the only time its value is shown (only its hash is kept).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiToken {
    pub id: i64,
    pub role: Role,
    pub label: String,
    pub token: String,
}

impl std::fmt::Debug for CreatedApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a token in debug output or logs.
        f.debug_struct("CreatedApiToken")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// A pipeline token as listed (never its value). Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenView {
    pub id: i64,
    pub label: String,
    pub role: Role,
    pub created_at: i64,
    pub created_by: String,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A person's account as listed. Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub username: String,
    pub role: Role,
    /// `local` or `oidc`.
    pub source: String,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
}

/// One thing done, as the audit log records it (`at`: Unix milliseconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    /// A username, `token N (label)`, or `-` when nobody was signed in.
    pub actor: String,
    /// The client's address.
    pub address: String,
    /// `sign-in`, `sign-in-failed`, `user-add`, `token-create`, `settings-save`, `generate`...
    pub action: String,
    /// What it was done to; empty when nothing in particular.
    pub target: String,
    /// `ok`, or why it failed.
    pub outcome: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_read_by_its_name_and_written_as_it() {
        for role in Role::ALL {
            assert_eq!(Role::parse(&format!(" {role} ")), Ok(role));
        }
        assert_eq!(
            Role::parse("root").unwrap_err().to_string(),
            "`root` is not a role: use admin, operator or viewer"
        );
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    }
}
