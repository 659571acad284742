//! What admins set: the AWS settings, the published defender image, and how image registries
//! are reached.

use super::Actor;
use crate::defender_image::Published;
use crate::images::registries::{self, RegistrySettings};
use crate::{settings, AwsSettings, Console, Result};

/// The console's AWS settings and its defender image (`console.settings()`).
pub struct Settings<'c> {
    pub(super) console: &'c Console,
}

impl Settings<'_> {
    /// The saved AWS settings (unset fields: the standard chain) with the deployment's ECS
    /// endpoint.
    pub async fn aws(&self) -> Result<AwsSettings> {
        self.console.aws_settings().await
    }

    /// Saves the AWS settings (an ECS endpoint is refused: it comes from the deployment).
    pub async fn save_aws(&self, actor: &Actor, aws: &AwsSettings) -> Result<()> {
        let saved = settings::save(&self.console.db, aws).await;
        self.console
            .audited(actor, "settings-save", "aws", saved)
            .await
    }

    /// The default defender image: the published one, if any.
    pub async fn defender_image(&self) -> Result<Option<String>> {
        self.console.defender_image().await
    }

    /// Builds the defender image from the console's binaries and pushes it to `repository`
    /// (default: the account's ECR); it becomes the default defender image. The audit log
    /// records the reference pushed, pinned by digest.
    pub async fn publish_defender_image(
        &self,
        actor: &Actor,
        repository: Option<&str>,
    ) -> Result<Published> {
        let repository = repository.map(str::trim).filter(|text| !text.is_empty());
        let published = self.console.publish_defender_image(repository).await;
        let outcome = match &published {
            Ok(published) => published.reference.clone(),
            Err(error) => error.public_message(),
        };
        let target = repository.unwrap_or("the account's ECR");
        self.console
            .audit(actor, "defender-image-publish", target, &outcome)
            .await;
        published
    }
}

/// How one registry is reached, as a caller asks for it (checked by [`Registries::set`]).
#[derive(Clone, Debug, Default)]
pub struct RegistryChange {
    pub username: Option<String>,
    /// `env:PALISADE_REGISTRY_NAME` or `file:<path inside PALISADE_SECRETS_DIR>`.
    pub password_ref: Option<String>,
    /// `https://host[:port]` (or `http://`) to reach the registry at instead of its own host.
    pub endpoint: Option<String>,
    /// Send the registry's credentials (or its ECR login) to `endpoint`.
    pub credentials_to_endpoint: bool,
}

/// How the console reaches image registries (`console.registries()`).
pub struct Registries<'c> {
    pub(super) console: &'c Console,
}

impl Registries<'_> {
    /// The registries with settings, by host (password references, never a password).
    pub async fn list(&self) -> Result<Vec<RegistrySettings>> {
        registries::list(&self.console.db).await
    }

    /// Saves how `registry` is reached (replacing what it had), after checking it.
    pub async fn set(&self, actor: &Actor, registry: &str, change: &RegistryChange) -> Result<()> {
        let saved = async {
            let settings = RegistrySettings::parse(
                registry,
                change.username.as_deref(),
                change.password_ref.as_deref(),
                change.endpoint.as_deref(),
                change.credentials_to_endpoint,
                self.console.deployment.secrets_dir.as_deref(),
            )?;
            registries::save(&self.console.db, &settings).await
        }
        .await;
        self.console
            .audited(actor, "registry-save", registry, saved)
            .await
    }

    /// Forgets how `registry` is reached.
    pub async fn remove(&self, actor: &Actor, registry: &str) -> Result<()> {
        let removed = registries::remove(&self.console.db, registry).await;
        self.console
            .audited(actor, "registry-remove", registry, removed)
            .await
    }
}
