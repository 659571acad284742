//! People and pipelines: roles, who is signed in, accounts and pipeline tokens as the pages, the
//! REST API and the CLI list them.

use serde::{Deserialize, Serialize};

/// A role, as the pages compare them and the API writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RoleView {
    Viewer,
    Operator,
    Admin,
}

impl RoleView {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleView::Viewer => "viewer",
            RoleView::Operator => "operator",
            RoleView::Admin => "admin",
        }
    }
}

/// The person (or pipeline) signed in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub name: String,
    pub role: RoleView,
}

impl Me {
    /// They may do what `role` may.
    pub fn may(&self, role: RoleView) -> bool {
        self.role >= role
    }
}

/// A pipeline token as listed (never its value). Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenView {
    pub id: i64,
    pub label: String,
    pub role: RoleView,
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
    pub role: RoleView,
    /// `local` or `oidc`.
    pub source: String,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
}
