//! The REST API under `/api/v1`: the generator as JSON in, JSON out, the generation history,
//! registrations on ECS, and the console's AWS and registry settings. Handlers translate between
//! JSON and the console; every answer is a named type (of `palisade_types`, shared with the pages
//! and the CLI, or declared here when only the REST API answers with it), and its
//! `#[utoipa::path]` names that type, so the document describes what is sent.

use super::error::{
    ApiError, AppJson, AppPath, BadRequest, BodyRefused, Conflict, Guarded, NotFound, Upstream,
};
use super::{Caller, Routes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use palisade_console::generate::{GenerateRequest, GenerationResult};
use palisade_console::images::registries::RegistrySettings;
use palisade_console::redact::Disclosure;
use palisade_console::registrations::Outcome;
use palisade_console::use_cases::RegistryChange;
use palisade_console::{AwsSettings, Console};
use palisade_taskdef::protect::ContainerPlan;
use palisade_taskdef::template::TemplateFormat;
use palisade_taskdef::{to_pretty, unprotect_text_cancellable, InputForm, Summary, Warning};
use palisade_types::generations::{GenerationListItem, RegistrationView};
use palisade_types::protect::{GenerateOptions, ResolutionView};
use palisade_types::settings::{DefenderImageView, EcsSettingsView, PublishedView};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::routes;

/// Task definitions are at most 64 KiB; describe output and pretty-printing add some. Anything
/// past this is not a task definition.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The console's REST routes.
pub fn routes(routes: Routes) -> Routes {
    routes
        .route(routes!(protect))
        .route(routes!(unprotect))
        .route(routes!(list_generations))
        .route(routes!(get_generation))
        .route(routes!(list_registrations))
        .route(routes!(register))
        .route(routes!(get_ecs_settings))
        .route(routes!(put_ecs_settings))
        .route(routes!(list_registries))
        .route(routes!(put_registry))
        .route(routes!(delete_registry))
        .route(routes!(get_defender_image))
        .route(routes!(publish_defender_image))
        .route(routes!(health))
}

/// Whether the console answers (for load balancers: no credentials needed).
#[utoipa::path(
    get, path = "/api/v1/health", tag = "meta", security(()),
    responses(
        (status = 200, description = "the console answers", body = Health),
    )
)]
pub(crate) async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `{"status": "ok"}`: the console answers.
#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
}

/// `input` is the pasted text (so errors can name line and column) or the JSON itself.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtectRequest {
    pub input: Value,
    #[serde(default)]
    pub options: GenerateOptions,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProtectResponse {
    /// The protected task definition; for a CloudFormation template, its text.
    pub output: Value,
    /// The task definition's form (absent for a template).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<InputForm>,
    /// `json` or `yaml` for a CloudFormation template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_format: Option<TemplateFormat>,
    pub family: Option<String>,
    pub summary: Summary,
    pub summary_lines: Vec<String>,
    pub warnings: Vec<Warning>,
    pub containers: Vec<ContainerPlan>,
    pub generation_id: Option<i64>,
    /// Entrypoints read from image registries: the config found, or why not.
    pub resolutions: Vec<ResolutionView>,
    /// What the console did besides generating: a token created for the family, where it went.
    pub notes: Vec<String>,
}

fn input_text(input: Value) -> String {
    match input {
        Value::String(text) => text,
        other => to_pretty(&other),
    }
}

#[utoipa::path(
    post, path = "/api/v1/protect", tag = "protect", request_body = ProtectRequest,
    responses(
        (status = 200, description = "the protected task definition, its summary, warnings and history id", body = ProtectResponse),
        Guarded,
        BodyRefused,
        Upstream,
    )
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn protect(
    State(console): State<Console>,
    caller: Caller,
    AppJson(request): AppJson<ProtectRequest>,
) -> Result<Json<ProtectResponse>, ApiError> {
    let generation = console
        .generations()
        .generate(
            &caller,
            GenerateRequest::decode(input_text(request.input), request.options)?,
        )
        .await?;
    match generation.result {
        GenerationResult::Generated { id, protected } => {
            let protected = *protected;
            Ok(Json(ProtectResponse {
                summary_lines: protected.summary.lines(),
                output: protected.output,
                form: Some(protected.form),
                template_format: None,
                family: protected.family,
                summary: protected.summary,
                warnings: protected.warnings,
                containers: protected.plan,
                generation_id: id,
                resolutions: generation.resolutions.into_iter().map(Into::into).collect(),
                notes: generation.notes,
            }))
        }
        GenerationResult::Template(template) => {
            let warnings = template.warnings();
            Ok(Json(ProtectResponse {
                summary_lines: template.describe().lines().map(str::to_owned).collect(),
                output: Value::String(template.output),
                form: None,
                template_format: Some(template.format),
                family: None,
                summary: Summary::default(),
                warnings,
                containers: Vec::new(),
                generation_id: None,
                resolutions: Vec::new(),
                notes: generation.notes,
            }))
        }
        GenerationResult::Refused { rejected, .. } => Err(rejected.into()),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnprotectRequest {
    pub input: Value,
}

#[utoipa::path(
    post, path = "/api/v1/unprotect", tag = "protect", request_body = UnprotectRequest,
    responses(
        (status = 200, description = "the task definition without Palisade", body = UnprotectResponse),
        Guarded,
        BodyRefused,
    )
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn unprotect(
    State(console): State<Console>,
    AppJson(request): AppJson<UnprotectRequest>,
) -> Result<Json<UnprotectResponse>, ApiError> {
    let text = input_text(request.input);
    let unprotected = console
        .heavy("unprotecting", move |cancel| {
            unprotect_text_cancellable(&text, cancel)
        })
        .await??;
    Ok(Json(UnprotectResponse {
        output: unprotected.output,
        form: unprotected.form,
        was_protected: unprotected.was_protected,
    }))
}

/// The task definition without Palisade, in the form it came in.
#[derive(Serialize, ToSchema)]
pub struct UnprotectResponse {
    pub output: Value,
    pub form: InputForm,
    /// It had a protection to remove.
    pub was_protected: bool,
}

#[utoipa::path(
    get, path = "/api/v1/generations", tag = "protect",
    responses(
        (status = 200, description = "the newest generations", body = GenerationList),
        Guarded,
    )
)]
pub(crate) async fn list_generations(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<GenerationList>, ApiError> {
    let disclosure = Disclosure::for_principal(caller.principal.as_ref());
    let generations: Vec<GenerationListItem> = console
        .generations()
        .recent(100)
        .await?
        .into_iter()
        .map(|item| item.disclosed(disclosure).into())
        .collect();
    Ok(Json(GenerationList { generations }))
}

/// The newest generations, newest first.
#[derive(Serialize, ToSchema)]
pub struct GenerationList {
    pub generations: Vec<GenerationListItem>,
}

#[utoipa::path(
    get, path = "/api/v1/generations/{id}", tag = "protect", params(("id" = i64, Path, description = "generation id")),
    responses(
        (status = 200, description = "one generation, input and output", body = GenerationRecordView),
        Guarded,
        BadRequest,
        NotFound,
    )
)]
pub(crate) async fn get_generation(
    State(console): State<Console>,
    AppPath(id): AppPath<i64>,
) -> Result<Json<GenerationRecordView>, ApiError> {
    let record = console.generations().get(id).await?;
    Ok(Json(GenerationRecordView {
        item: record.item.into(),
        input: record.input,
        output: record.output,
    }))
}

/// One generation as listed, with what was pasted and what came out.
#[derive(Serialize, ToSchema)]
pub struct GenerationRecordView {
    #[serde(flatten)]
    pub item: GenerationListItem,
    pub input: String,
    /// The result, pretty-printed.
    pub output: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The generation whose result to register (its id is also the idempotency key).
    pub generation_id: i64,
}

/// Registers a generation on ECS: 201 with the registration, 200 when it was registered before.
#[utoipa::path(
    post, path = "/api/v1/registrations", tag = "registrations", request_body = RegisterRequest,
    responses(
        (status = 201, description = "registered now", body = RegistrationView),
        (status = 200, description = "registered before", body = RegistrationView),
        Guarded,
        BodyRefused,
        NotFound,
        Conflict,
        Upstream,
    )
)]
#[tracing::instrument(skip_all, fields(generation_id = request.generation_id))]
pub(crate) async fn register(
    State(console): State<Console>,
    caller: Caller,
    AppJson(request): AppJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegistrationView>), ApiError> {
    let (registration, outcome) = console
        .generations()
        .register(&caller, request.generation_id)
        .await?;
    let status = match outcome {
        Outcome::Registered => StatusCode::CREATED,
        Outcome::AlreadyRegistered => StatusCode::OK,
    };
    Ok((status, Json(registration.into())))
}

#[utoipa::path(
    get, path = "/api/v1/registrations", tag = "registrations",
    responses(
        (status = 200, description = "the registrations, newest first", body = RegistrationList),
        Guarded,
    )
)]
pub(crate) async fn list_registrations(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<RegistrationList>, ApiError> {
    let disclosure = Disclosure::for_principal(caller.principal.as_ref());
    let registrations: Vec<RegistrationView> = console
        .generations()
        .registrations(200)
        .await?
        .into_iter()
        .map(|row| row.disclosed(disclosure).into())
        .collect();
    Ok(Json(RegistrationList { registrations }))
}

/// The registrations, newest first.
#[derive(Serialize, ToSchema)]
pub struct RegistrationList {
    pub registrations: Vec<RegistrationView>,
}

/// The console's AWS settings as the Settings page shows them (empty = the SDK's standard chain).
#[utoipa::path(
    get, path = "/api/v1/settings/ecs", tag = "settings",
    responses(
        (status = 200, description = "region, profile, and the deployment's ECS endpoint", body = EcsSettingsView),
        Guarded,
    )
)]
pub(crate) async fn get_ecs_settings(
    State(console): State<Console>,
) -> Result<Json<EcsSettingsView>, ApiError> {
    Ok(Json(console.settings().aws().await?.into()))
}

#[utoipa::path(
    put, path = "/api/v1/settings/ecs", tag = "settings", request_body = EcsSettingsView,
    responses(
        (status = 200, description = "the saved settings", body = EcsSettingsView),
        Guarded,
        BodyRefused,
    )
)]
pub(crate) async fn put_ecs_settings(
    State(console): State<Console>,
    caller: Caller,
    AppJson(view): AppJson<EcsSettingsView>,
) -> Result<Json<EcsSettingsView>, ApiError> {
    let settings = AwsSettings::from_view(&view, console.deployment().ecs_endpoint.as_deref())?;
    console.settings().save_aws(&caller, &settings).await?;
    get_ecs_settings(State(console)).await
}

/// The registries the console has settings for (user names and password references, never a password).
#[utoipa::path(
    get, path = "/api/v1/registries", tag = "settings",
    responses(
        (status = 200, description = "registry settings, never a password", body = RegistryList),
        Guarded,
    )
)]
pub(crate) async fn list_registries(
    State(console): State<Console>,
) -> Result<Json<RegistryList>, ApiError> {
    let registries = console.registries().list().await?;
    Ok(Json(RegistryList {
        registries: registries.into_iter().map(RegistryBody::from).collect(),
    }))
}

/// The registries with settings, by host.
#[derive(Serialize, ToSchema)]
pub struct RegistryList {
    pub registries: Vec<RegistryBody>,
}

/// How the console reaches one registry, as the API has always written it: unset fields are
/// `null` (the Settings page's `RegistryView` shows them as empty strings instead).
#[derive(Serialize, ToSchema)]
pub struct RegistryBody {
    /// `host[:port]` as in image references (`docker.io` for Docker Hub).
    pub registry: String,
    pub username: Option<String>,
    /// `env:PALISADE_REGISTRY_NAME` or `file:/path` under `PALISADE_SECRETS_DIR`.
    pub password_ref: Option<String>,
    /// `https://host[:port]` or `http://host[:port]` to reach the registry at instead.
    pub endpoint: Option<String>,
    pub credentials_to_endpoint: bool,
}

impl From<RegistrySettings> for RegistryBody {
    fn from(row: RegistrySettings) -> Self {
        RegistryBody {
            registry: row.registry,
            username: row.username,
            password_ref: row.password_ref,
            endpoint: row.endpoint,
            credentials_to_endpoint: row.credentials_to_endpoint,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegistryRequest {
    username: Option<String>,
    /// `env:PALISADE_REGISTRY_NAME` or `file:<path inside PALISADE_SECRETS_DIR>`: where the
    /// password is read at lookup time.
    password_ref: Option<String>,
    /// `https://host[:port]` (or `http://`) to reach the registry at instead of its own host.
    endpoint: Option<String>,
    /// Send the registry's credentials (or its ECR login) to `endpoint`: required with both.
    #[serde(default)]
    credentials_to_endpoint: bool,
}

#[utoipa::path(
    put, path = "/api/v1/registries/{registry}", tag = "settings", request_body = RegistryRequest, params(("registry" = String, Path, description = "host[:port]")),
    responses(
        (status = 204, description = "saved"),
        Guarded,
        BodyRefused,
    )
)]
pub(crate) async fn put_registry(
    State(console): State<Console>,
    caller: Caller,
    AppPath(registry): AppPath<String>,
    AppJson(request): AppJson<RegistryRequest>,
) -> Result<StatusCode, ApiError> {
    let change = RegistryChange {
        username: request.username,
        password_ref: request.password_ref,
        endpoint: request.endpoint,
        credentials_to_endpoint: request.credentials_to_endpoint,
    };
    console
        .registries()
        .set(&caller, &registry, &change)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete, path = "/api/v1/registries/{registry}", tag = "settings", params(("registry" = String, Path, description = "host[:port]")),
    responses(
        (status = 204, description = "removed"),
        Guarded,
        NotFound,
    )
)]
pub(crate) async fn delete_registry(
    State(console): State<Console>,
    caller: Caller,
    AppPath(registry): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    console.registries().remove(&caller, &registry).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The default defender image: the one the console published (`reference`), or `null`.
#[utoipa::path(
    get, path = "/api/v1/defender-image", tag = "settings",
    responses(
        (status = 200, description = "the published defender image, pinned by digest, or null", body = DefenderImageView),
        Guarded,
    )
)]
pub(crate) async fn get_defender_image(
    State(console): State<Console>,
) -> Result<Json<DefenderImageView>, ApiError> {
    let reference = console.settings().defender_image().await?;
    Ok(Json(DefenderImageView { reference }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishRequest {
    /// `REGISTRY/REPOSITORY[:TAG]`; absent: the account's ECR, `palisade/defender`.
    repository: Option<String>,
}

/// Builds the defender image from the console's binaries (linux/amd64 and linux/arm64) and pushes
/// it; it becomes the default defender image. Publishing unchanged binaries again pushes nothing.
#[utoipa::path(
    post, path = "/api/v1/defender-image", tag = "settings", request_body = PublishRequest,
    responses(
        (status = 201, description = "published: the reference pinned by digest and what was pushed", body = PublishedView),
        Guarded,
        BodyRefused,
        Upstream,
    )
)]
pub(crate) async fn publish_defender_image(
    State(console): State<Console>,
    caller: Caller,
    AppJson(request): AppJson<PublishRequest>,
) -> Result<(StatusCode, Json<PublishedView>), ApiError> {
    let published = console
        .settings()
        .publish_defender_image(&caller, request.repository.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(published.into())))
}
