//! Registering a generation on ECS, the Revisions page's list, and Import from ECS.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

/// Where a registration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use palisade_console::registrations::{self, Registration};

    impl From<registrations::RegistrationStatus> for RegistrationStatus {
        fn from(status: registrations::RegistrationStatus) -> Self {
            match status {
                registrations::RegistrationStatus::Pending => RegistrationStatus::Pending,
                registrations::RegistrationStatus::Registered => RegistrationStatus::Registered,
                registrations::RegistrationStatus::Failed => RegistrationStatus::Failed,
            }
        }
    }

    impl From<Registration> for RegistrationView {
        fn from(row: Registration) -> Self {
            RegistrationView {
                console_link: row.console_link(),
                id: row.id,
                created_at: crate::api::rfc3339(row.created_at),
                generation_id: row.generation_id,
                registered_by: row.registered_by,
                family: row.family,
                input_sha256: row.input_sha256,
                output_sha256: row.output_sha256,
                status: row.status.into(),
                task_definition_arn: row.task_definition_arn,
                revision: row.revision,
                error: row.error,
            }
        }
    }
}
