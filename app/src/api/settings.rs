//! The Settings page's server functions: AWS settings, registries, defender tokens, the defender
//! image the console publishes.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

/// The Settings page's AWS fields; empty means the AWS SDK's standard chain decides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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

/// A token just created: the only time its value is shown (only its hash is stored).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
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

/// A token as Settings lists it (never its value). Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
pub struct DefenderImageView {
    /// `REGISTRY/REPOSITORY@sha256:...`, or `None` until an image is published.
    pub reference: Option<String>,
}

/// A publication: the pinned reference and what was pushed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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

#[cfg(feature = "ssr")]
impl From<palisade_console::defender_image::Published> for PublishedView {
    fn from(published: palisade_console::defender_image::Published) -> Self {
        PublishedView {
            reference: published.reference,
            tagged: published.tagged,
            architectures: published.architectures,
            repository_created: published.repository_created,
            blobs_pushed: published.report.blobs_pushed,
            blobs_present: published.report.blobs_present,
            manifests_pushed: published.report.manifests_pushed,
            manifests_present: published.report.manifests_present,
        }
    }
}

/// The default defender image (the Protect page shows it; Settings publishes it).
#[server(endpoint = "defender-image")]
pub async fn defender_image() -> Result<DefenderImageView, ServerFnError> {
    let console = super::console_for::<DefenderImage>()?;
    let reference = console
        .settings()
        .defender_image()
        .await
        .map_err(super::server_error)?;
    Ok(DefenderImageView { reference })
}

/// Builds the defender image from the console's binaries and pushes it to `repository` (empty:
/// the account's ECR); it becomes the default defender image.
#[server(endpoint = "publish-defender-image", input = Json)]
pub async fn publish_defender_image(repository: String) -> Result<PublishedView, ServerFnError> {
    let console = super::console_for::<PublishDefenderImage>()?;
    let published = console
        .settings()
        .publish_defender_image(&super::actor(), Some(&repository))
        .await
        .map_err(super::server_error)?;
    Ok(published.into())
}

/// The saved AWS settings.
#[server(endpoint = "get-ecs-settings")]
pub async fn get_ecs_settings() -> Result<EcsSettingsView, ServerFnError> {
    let console = super::console_for::<GetEcsSettings>()?;
    let settings = console
        .settings()
        .aws()
        .await
        .map_err(super::server_error)?;
    Ok(settings.into())
}

/// Saves the AWS settings.
#[server(endpoint = "save-ecs-settings", input = Json)]
pub async fn save_ecs_settings(settings: EcsSettingsView) -> Result<(), ServerFnError> {
    let console = super::console_for::<SaveEcsSettings>()?;
    let settings = settings
        .parse(console.deployment().ecs_endpoint.as_deref())
        .map_err(super::server_error)?;
    console
        .settings()
        .save_aws(&super::actor(), &settings)
        .await
        .map_err(super::server_error)
}

/// The registries with settings, by host.
#[server(endpoint = "list-registries")]
pub async fn list_registries() -> Result<Vec<RegistryView>, ServerFnError> {
    let console = super::console_for::<ListRegistries>()?;
    let rows = console
        .registries()
        .list()
        .await
        .map_err(super::server_error)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Saves one registry's settings (replacing what it had), after checking them.
#[server(endpoint = "save-registry", input = Json)]
pub async fn save_registry(registry: RegistryView) -> Result<(), ServerFnError> {
    let console = super::console_for::<SaveRegistry>()?;
    let change = palisade_console::use_cases::RegistryChange {
        username: Some(registry.username),
        password_ref: Some(registry.password_ref),
        endpoint: Some(registry.endpoint),
        credentials_to_endpoint: registry.credentials_to_endpoint,
    };
    console
        .registries()
        .set(&super::actor(), &registry.registry, &change)
        .await
        .map_err(super::server_error)
}

/// Forgets one registry's settings.
#[server(endpoint = "remove-registry")]
pub async fn remove_registry(registry: String) -> Result<(), ServerFnError> {
    let console = super::console_for::<RemoveRegistry>()?;
    console
        .registries()
        .remove(&super::actor(), &registry)
        .await
        .map_err(super::server_error)
}

/// The defender tokens, newest first, and the console's clock (for "last used 3 min ago").
#[server(endpoint = "list-tokens")]
pub async fn list_tokens() -> Result<(Vec<TokenView>, i64), ServerFnError> {
    let console = super::console_for::<ListTokens>()?;
    let tokens = console
        .defender_tokens()
        .list()
        .await
        .map_err(super::server_error)?;
    Ok((
        tokens.into_iter().map(Into::into).collect(),
        palisade_console::clock::now_ms(),
    ))
}

/// Creates a defender token for `family`.
#[server(endpoint = "create-token")]
pub async fn create_token(family: String, label: String) -> Result<CreatedToken, ServerFnError> {
    use palisade_console::use_cases::TokenKept;
    let console = super::console_for::<CreateToken>()?;
    let new = console
        .defender_tokens()
        .create(&super::actor(), &family, &label, TokenKept::Shown)
        .await
        .map_err(super::server_error)?;
    Ok(new.created.into())
}

/// Revokes a token: defenders using it are refused from their next connection.
#[server(endpoint = "revoke-token")]
pub async fn revoke_token(id: i64) -> Result<(), ServerFnError> {
    let console = super::console_for::<RevokeToken>()?;
    console
        .defender_tokens()
        .revoke(&super::actor(), id)
        .await
        .map_err(super::server_error)
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use palisade_console::aws::ecr;
    use palisade_console::defenders::tokens;
    use palisade_console::images::registries::RegistrySettings;
    use palisade_console::AwsSettings;

    impl From<AwsSettings> for EcsSettingsView {
        fn from(settings: AwsSettings) -> Self {
            EcsSettingsView {
                region: settings.region.unwrap_or_default(),
                profile: settings.profile.unwrap_or_default(),
                // `Console::aws_settings` puts the deployment's endpoint here.
                endpoint_url: settings.ecs_endpoint_url.unwrap_or_default(),
            }
        }
    }

    impl EcsSettingsView {
        /// The fields as settings, or why they cannot work. The endpoint is shown, not set: it
        /// may only come back as the page showed it.
        pub fn parse(&self, deployed: Option<&str>) -> palisade_console::Result<AwsSettings> {
            let endpoint = self.endpoint_url.trim();
            if !endpoint.is_empty() && Some(endpoint) != deployed {
                return Err(palisade_console::Error::invalid(
                    palisade_console::settings::ENDPOINT_FROM_DEPLOYMENT,
                ));
            }
            AwsSettings::parse(&self.region, &self.profile, "")
        }
    }

    impl From<RegistrySettings> for RegistryView {
        fn from(row: RegistrySettings) -> Self {
            RegistryView {
                ecr_login: row.username.is_none() && ecr::region_of(&row.registry).is_some(),
                registry: row.registry,
                username: row.username.unwrap_or_default(),
                password_ref: row.password_ref.unwrap_or_default(),
                endpoint: row.endpoint.unwrap_or_default(),
                credentials_to_endpoint: row.credentials_to_endpoint,
            }
        }
    }

    impl From<tokens::Token> for TokenView {
        fn from(token: tokens::Token) -> Self {
            TokenView {
                id: token.id,
                family: token.family,
                label: token.label,
                created_at: token.created_at,
                revoked_at: token.revoked_at,
                last_used_at: token.last_used_at,
            }
        }
    }

    impl From<tokens::CreatedToken> for CreatedToken {
        fn from(created: tokens::CreatedToken) -> Self {
            CreatedToken {
                id: created.id,
                family: created.family,
                token: created.token,
            }
        }
    }
}
