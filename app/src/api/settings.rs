//! The Settings page's server functions: AWS settings, registries, defender tokens, the defender
//! image the console publishes. Their types are `palisade_types::settings`.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

pub use palisade_types::settings::{
    CreatedToken, DefenderImageView, EcsSettingsView, PublishedView, RegistryView, TokenView,
};

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
    let settings = palisade_console::AwsSettings::from_view(
        &settings,
        console.deployment().ecs_endpoint.as_deref(),
    )
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
    Ok((tokens, palisade_console::clock::now_ms()))
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
    Ok(new.created)
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
