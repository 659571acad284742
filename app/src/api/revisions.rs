//! Registering a generation on ECS, the Revisions page's list, and Import from ECS.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

pub use palisade_types::generations::{RegistrationStatus, RegistrationView};

/// Registers the result of a generation as a new ECS revision, once: a second call for the same
/// generation answers with the first registration.
#[server(endpoint = "register-generation", input = Json)]
pub async fn register_generation(generation_id: i64) -> Result<RegistrationView, ServerFnError> {
    let console = super::console_for::<RegisterGeneration>()?;
    let (registration, _) = console
        .generations()
        .register(&super::actor(), generation_id)
        .await
        .map_err(super::server_error)?;
    Ok(registration.into())
}

/// Every registration, newest first.
#[server(endpoint = "list-registrations")]
pub async fn list_registrations() -> Result<Vec<RegistrationView>, ServerFnError> {
    let console = super::console_for::<ListRegistrations>()?;
    let rows = console
        .generations()
        .registrations(200)
        .await
        .map_err(super::server_error)?;
    let disclosure = super::disclosure();
    Ok(rows
        .into_iter()
        .map(|row| row.disclosed(disclosure).into())
        .collect())
}

/// Task definition families with an active revision, for Import from ECS.
#[server(endpoint = "ecs-families")]
pub async fn ecs_families() -> Result<Vec<String>, ServerFnError> {
    let console = super::console_for::<EcsFamilies>()?;
    console
        .imports()
        .families()
        .await
        .map_err(super::server_error)
}

/// The revision ARNs of `family`, newest first.
#[server(endpoint = "ecs-revisions")]
pub async fn ecs_revisions(family: String) -> Result<Vec<String>, ServerFnError> {
    let console = super::console_for::<EcsRevisions>()?;
    console
        .imports()
        .revisions(&family)
        .await
        .map_err(super::server_error)
}

/// The describe output (with tags) of `FAMILY`, `FAMILY:REVISION` or an ARN, pretty-printed for
/// the editor: the generator takes it as it is.
#[server(endpoint = "ecs-import")]
pub async fn ecs_import(task_definition: String) -> Result<String, ServerFnError> {
    let console = super::console_for::<EcsImport>()?;
    let described = console
        .imports()
        .import(&super::actor(), &task_definition)
        .await
        .map_err(super::server_error)?;
    Ok(palisade_taskdef::to_pretty(&described))
}
