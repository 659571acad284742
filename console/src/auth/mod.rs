//! Who may use the console: roles, the principal behind a request (a person signed in, or a
//! pipeline token), local accounts and their sessions, signing in, pipeline tokens, the throttle on
//! failed sign-ins, the console's own signing key, and the audit log. Secrets are kept only as
//! hashes.

pub mod api_tokens;
pub mod audit;
pub mod keys;
pub mod last_use;
pub mod sessions;
pub mod sign_in;
pub mod throttle;
pub mod users;

use crate::error::{Error, Result};

/// What a principal may do, each role including the ones below it: one type with the pages and
/// the API.
pub use palisade_types::people::{Role, UnknownRole};

impl From<UnknownRole> for Error {
    fn from(unknown: UnknownRole) -> Self {
        Error::invalid(unknown.to_string())
    }
}

/// Who is behind a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// A person, signed in (with a password or single sign-on).
    User { id: i64, username: String },
    /// A pipeline, with a token.
    ApiToken { id: i64, label: String },
}

/// Who is behind a request, and what they may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub who: Who,
    pub role: Role,
}

impl Principal {
    /// How the audit log and the registrations name them: the username, or `token 3 (ci)`.
    pub fn name(&self) -> String {
        match &self.who {
            Who::User { username, .. } => username.clone(),
            Who::ApiToken { id, label } if label.is_empty() => format!("token {id}"),
            Who::ApiToken { id, label } => format!("token {id} ({label})"),
        }
    }

    /// They may do what `role` may.
    pub fn may(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// The address a request came from, as the audit log records it (the server puts it in each
/// request's extensions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub String);

/// A token secret: `prefix` and 256 random bits in hex, so a leaked one is recognisable.
pub(crate) fn new_secret(prefix: &str) -> Result<String> {
    let random = crate::text::random_hex(32)
        .map_err(|error| Error::internal("making a token", error.to_string()))?;
    Ok(format!("{prefix}{random}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        let operator = Principal {
            who: Who::ApiToken {
                id: 3,
                label: "ci".into(),
            },
            role: Role::Operator,
        };
        assert!(operator.may(Role::Viewer) && operator.may(Role::Operator));
        assert!(!operator.may(Role::Admin));
        assert_eq!(operator.name(), "token 3 (ci)");
        assert_eq!(Role::parse(" admin").unwrap(), Role::Admin);
        assert!(Role::parse("root")
            .unwrap_err()
            .to_string()
            .contains("admin, operator or viewer"));
    }
}
