//! The console's settings as the Settings page and the REST API show and edit them: AWS,
//! registries, defender tokens, the defender image it publishes.

use serde::{Deserialize, Serialize};

/// The AWS fields; empty means the AWS SDK's standard chain decides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EcsSettingsView {
    pub region: String,
    pub profile: String,
    /// Read-only: the ECS endpoint the deployment set (`AWS_ENDPOINT_URL_ECS`), empty for AWS's.
    /// A request may send it back unchanged or empty; any other value is refused.
    #[serde(default)]
    pub endpoint_url: String,
}

/// A registry's settings as the Settings page shows and edits them; empty means unset. Never a
/// password: `password_ref` says where the console reads it (`env:PALISADE_REGISTRY_NAME` or
/// `file:` inside `PALISADE_SECRETS_DIR`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegistryView {
    pub registry: String,
    pub username: String,
    pub password_ref: String,
    pub endpoint: String,
    /// The registry's credentials (or ECR login) go to `endpoint`: the admin's explicit choice.
    #[serde(default)]
    pub credentials_to_endpoint: bool,
    /// A private ECR host without credentials of its own: its login comes from the AWS chain.
    /// Shown, never saved.
    #[serde(default)]
    pub ecr_login: bool,
}

/// A defender token just created: the only time its value exists outside the task that uses it
/// (only its hash is stored). The console makes it, every front end shows it as it is.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    pub id: i64,
    pub family: String,
    pub token: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a token in debug output or logs.
        f.debug_struct("CreatedToken")
            .field("id", &self.id)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

/// A defender token as listed (never its value). Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenView {
    pub id: i64,
    pub family: String,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// The console's default defender image: the one it published, if any.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DefenderImageView {
    /// `REGISTRY/REPOSITORY@sha256:...`, or `None` until an image is published.
    pub reference: Option<String>,
}

/// A publication: the pinned reference and what was pushed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishedView {
    pub reference: String,
    pub tagged: String,
    pub architectures: Vec<String>,
    pub repository_created: bool,
    pub blobs_pushed: usize,
    pub blobs_present: usize,
    pub manifests_pushed: usize,
    pub manifests_present: usize,
}
