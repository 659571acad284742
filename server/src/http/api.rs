//! The REST API under `/api/v1`: the generator as JSON in, JSON out, and the generation history.

use super::error::{ApiError, AppJson};
use super::AppState;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use palisade_app::api::ssr::run_and_record;
use palisade_app::api::{EcsSettingsView, GenerateRequest, RegistrationView, UiOptions};
use palisade_taskdef::protect::ContainerPlan;
use palisade_taskdef::{to_pretty, unprotect_text, InputForm, Summary, Warning};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Task definitions are at most 64 KiB; describe output and pretty-printing add some. Anything
/// past this is not a task definition.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/protect", post(protect))
        .route("/unprotect", post(unprotect))
        .route("/generations", get(list_generations))
        .route("/generations/{id}", get(get_generation))
        .route("/registrations", get(list_registrations).post(register))
        .route("/settings/ecs", get(get_ecs_settings).put(put_ecs_settings))
        .route("/registries", get(list_registries))
        .route(
            "/registries/{registry}",
            axum::routing::put(put_registry).delete(delete_registry),
        )
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// `input` is the pasted text (so errors can name line and column) or the JSON itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectRequest {
    pub input: Value,
    #[serde(default)]
    pub options: ApiOptions,
}

/// The CLI's options, as JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiOptions {
    pub mode: Option<String>,
    pub console_url: Option<String>,
    /// A plain token (lands in `environment`, with a warning).
    pub token: Option<String>,
    /// A Secrets Manager / SSM ARN for the token (lands in `secrets`).
    pub token_secret: Option<String>,
    /// Have the console create a token for the task's family: `"plain"` embeds it in
    /// `environment`, `"secret"` stores it in Secrets Manager and embeds the secret's ARN.
    pub create_token: Option<String>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Container name -> image argv: `["/entrypoint.sh", "serve"]` or `{"entryPoint": [...], "command": [...]}`.
    pub entrypoints: BTreeMap<String, Value>,
    pub defender_image: Option<String>,
    /// Do not read missing entrypoints from the image registries.
    pub no_resolve: bool,
}

#[derive(Debug, Serialize)]
pub struct ProtectResponse {
    pub output: Value,
    pub form: InputForm,
    pub family: Option<String>,
    pub summary: Summary,
    pub summary_lines: Vec<String>,
    pub warnings: Vec<Warning>,
    pub containers: Vec<ContainerPlan>,
    pub generation_id: Option<i64>,
    /// Entrypoints read from image registries (container, image, and the config or the reason).
    pub resolutions: Vec<palisade_app::images::Resolution>,
    /// What the console did besides generating: a token created for the family, where it went.
    pub notes: Vec<String>,
}

fn input_text(input: Value) -> String {
    match input {
        Value::String(text) => text,
        other => to_pretty(&other),
    }
}

fn ui_options(options: ApiOptions) -> Result<UiOptions, ApiError> {
    use palisade_app::api::ssr::{NEW_SECRET_TOKEN, NEW_TOKEN};
    let refuse = |message: &str| ApiError::BadRequest {
        status: axum::http::StatusCode::BAD_REQUEST,
        message: message.into(),
    };
    let (token_kind, token_value) = match (
        options.token,
        options.token_secret,
        options.create_token.as_deref(),
    ) {
        (Some(token), None, None) => ("plain", token),
        (None, Some(arn), None) => ("secret", arn),
        (None, None, Some("plain")) => (NEW_TOKEN, String::new()),
        (None, None, Some("secret")) => (NEW_SECRET_TOKEN, String::new()),
        (None, None, Some(_)) => return Err(refuse(r#"create_token is "plain" or "secret""#)),
        (None, None, None) => ("none", String::new()),
        _ => return Err(refuse("give one of token, token_secret and create_token")),
    };
    Ok(UiOptions {
        mode: options.mode.unwrap_or_default(),
        console_url: options.console_url.unwrap_or_default(),
        token_kind: token_kind.into(),
        token_value,
        defender_image: options.defender_image.unwrap_or_default(),
        include: options.include,
        exclude: options.exclude,
        entrypoints: options
            .entrypoints
            .into_iter()
            .map(|(name, argv)| (name, argv.to_string()))
            .collect(),
        no_resolve: options.no_resolve,
    })
}

#[tracing::instrument(skip_all)]
async fn protect(
    State(state): State<AppState>,
    AppJson(request): AppJson<ProtectRequest>,
) -> Result<Json<ProtectResponse>, ApiError> {
    let request = GenerateRequest {
        input: input_text(request.input),
        options: ui_options(request.options)?,
    };
    let outcome = run_and_record(&state.pool, request).await;
    match (outcome.protected, outcome.rejected) {
        (Some((protected, _)), _) => Ok(Json(ProtectResponse {
            summary_lines: protected.summary.lines(),
            output: protected.output,
            form: protected.form,
            family: protected.family,
            summary: protected.summary,
            warnings: protected.warnings,
            containers: protected.plan,
            generation_id: outcome.response.generation_id,
            resolutions: outcome.resolutions,
            notes: outcome.notes,
        })),
        (None, Some(rejected)) => Err(ApiError::Rejected(rejected)),
        (None, None) => Err(ApiError::Internal(anyhow::anyhow!(
            "the generator returned neither a result nor problems"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnprotectRequest {
    pub input: Value,
}

#[tracing::instrument(skip_all)]
async fn unprotect(AppJson(request): AppJson<UnprotectRequest>) -> Result<Json<Value>, ApiError> {
    let text = input_text(request.input);
    let unprotected = tokio::task::spawn_blocking(move || unprotect_text(&text))
        .await
        .map_err(|error| ApiError::Internal(error.into()))??;
    Ok(Json(
        serde_json::json!({ "output": unprotected.output, "form": unprotected.form, "was_protected": unprotected.was_protected }),
    ))
}

async fn list_generations(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let items = palisade_app::history::recent(&state.pool, 100)
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(Json(serde_json::json!({ "generations": items })))
}

async fn get_generation(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let detail = palisade_app::history::get(&state.pool, id)
        .await
        .map_err(|error| ApiError::Internal(error.into()))?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(serde_json::json!({
        "id": detail.item.id,
        "created_at": detail.item.created_at,
        "family": detail.item.family,
        "containers_protected": detail.item.containers_protected,
        "summary": detail.item.summary,
        "input": detail.input,
        "output": detail.response.output,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The generation whose result to register (its id is also the idempotency key).
    pub generation_id: i64,
}

/// Registers a generation on ECS: 201 with the registration, 200 when it was registered before.
#[tracing::instrument(skip_all, fields(generation_id = request.generation_id))]
async fn register(
    State(state): State<AppState>,
    AppJson(request): AppJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegistrationView>), ApiError> {
    use palisade_app::registrations::{load_settings, register_generation, RegisterError};
    let settings = load_settings(&state.pool)
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    match register_generation(
        &state.pool,
        request.generation_id,
        &settings,
        "api (no login yet)",
    )
    .await
    {
        Ok((registration, newly)) => Ok((
            if newly {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            Json(registration),
        )),
        Err(RegisterError::UnknownGeneration(_)) => Err(ApiError::NotFound),
        Err(error @ RegisterError::NotRegistrable(_)) => Err(ApiError::BadRequest {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: error.to_string(),
        }),
        Err(error @ RegisterError::InProgress) => Err(ApiError::BadRequest {
            status: StatusCode::CONFLICT,
            message: error.to_string(),
        }),
        Err(RegisterError::Ecs(error)) => Err(ApiError::BadRequest {
            status: StatusCode::BAD_GATEWAY,
            message: error.to_string(),
        }),
        Err(RegisterError::Database(error)) => Err(ApiError::Internal(error.into())),
    }
}

async fn list_registrations(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let rows = palisade_app::registrations::list(&state.pool, 200)
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(Json(serde_json::json!({ "registrations": rows })))
}

/// The console's ECS settings as the Settings page shows them (empty = the SDK's standard chain).
async fn get_ecs_settings(
    State(state): State<AppState>,
) -> Result<Json<EcsSettingsView>, ApiError> {
    let settings = palisade_app::registrations::load_settings(&state.pool)
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(Json(EcsSettingsView::from(settings)))
}

async fn put_ecs_settings(
    State(state): State<AppState>,
    AppJson(settings): AppJson<EcsSettingsView>,
) -> Result<Json<EcsSettingsView>, ApiError> {
    use palisade_app::registrations::{save_settings, SettingsError};
    match save_settings(&state.pool, &settings).await {
        Ok(()) => {}
        Err(SettingsError::Invalid(message)) => {
            return Err(ApiError::BadRequest {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message,
            })
        }
        Err(SettingsError::Database(error)) => return Err(ApiError::Internal(error.into())),
    }
    get_ecs_settings(State(state)).await
}

/// The registries the console has settings for (user names and password references, never a password).
async fn list_registries(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let rows = palisade_app::images::registries::list(&state.pool)
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(Json(serde_json::json!({ "registries": rows })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryRequest {
    username: Option<String>,
    /// `env:NAME` or `file:/path`: where the password is read at lookup time.
    password_ref: Option<String>,
    /// `https://host[:port]` (or `http://`) to reach the registry at instead of its own host.
    endpoint: Option<String>,
}

async fn put_registry(
    State(state): State<AppState>,
    Path(registry): Path<String>,
    AppJson(request): AppJson<RegistryRequest>,
) -> Result<StatusCode, ApiError> {
    use palisade_app::images::registries::{check, save, RegistrySettings};
    let settings = RegistrySettings {
        registry,
        username: request.username,
        password_ref: request.password_ref,
        endpoint: request.endpoint,
    }
    .normalized();
    check(&settings).map_err(|message| ApiError::BadRequest {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        message,
    })?;
    save(&state.pool, &settings)
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_registry(
    State(state): State<AppState>,
    Path(registry): Path<String>,
) -> Result<StatusCode, ApiError> {
    match palisade_app::images::registries::remove(&state.pool, &registry).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::NotFound),
        Err(error) => Err(ApiError::Internal(error.into())),
    }
}
