//! Generations and their registrations on ECS, as the Protect and Revisions pages, the REST API
//! and the CLI list them.

use serde::{Deserialize, Serialize};

/// A line of "Recent generations".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GenerationListItem {
    pub id: i64,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub family: Option<String>,
    pub containers_protected: Vec<String>,
    pub summary: Vec<String>,
}

/// Where a registration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RegistrationStatus {
    Pending,
    Registered,
    Failed,
}

impl RegistrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationStatus::Pending => "pending",
            RegistrationStatus::Registered => "registered",
            RegistrationStatus::Failed => "failed",
        }
    }
}

/// One registration attempt, as the Revisions page and the Register button show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistrationView {
    pub id: i64,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub generation_id: Option<i64>,
    pub registered_by: String,
    pub family: String,
    pub input_sha256: String,
    pub output_sha256: String,
    pub status: RegistrationStatus,
    pub task_definition_arn: Option<String>,
    pub revision: Option<i64>,
    pub console_link: Option<String>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_statuses_are_written_as_stored() {
        for status in [
            RegistrationStatus::Pending,
            RegistrationStatus::Registered,
            RegistrationStatus::Failed,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }
}
