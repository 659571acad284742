//! The REST API under `/api/v1`: the generator as JSON in, JSON out, the generation history,
//! registrations on ECS, and the console's AWS and registry settings. Handlers translate between
//! JSON and the console; every answer shape is a view type of `palisade_app::api` or built here.

use super::error::{ApiError, AppJson};
use super::{Caller, Routes};
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::Json;
use palisade_app::api::protect::GenerationListItem;
use palisade_app::api::revisions::RegistrationView;
use palisade_app::api::settings::EcsSettingsView;
use palisade_console::generate::{
    image_argv, GenerateRequest, GenerationResult, TokenChoice, TokenHome,
};
use palisade_console::images::registries::{self, RegistrySettings};
use palisade_console::images::Resolution;
use palisade_console::registrations::Outcome;
use palisade_console::text::non_blank;
use palisade_console::{generations, settings, Console};
use palisade_taskdef::protect::ContainerPlan;
use palisade_taskdef::{
    to_pretty, unprotect_text, InputForm, Mode, Problem, ProblemKind, ProtectOptions, Rejected,
    Summary, TokenSource, Warning,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Task definitions are at most 64 KiB; describe output and pretty-printing add some. Anything
/// past this is not a task definition.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The console's REST routes.
pub fn routes(routes: Routes) -> Routes {
    routes
        .add(Method::POST, "/api/v1/protect", protect)
        .add(Method::POST, "/api/v1/unprotect", unprotect)
        .add(Method::GET, "/api/v1/generations", list_generations)
        .add(Method::GET, "/api/v1/generations/{id}", get_generation)
        .add(Method::GET, "/api/v1/registrations", list_registrations)
        .add(Method::POST, "/api/v1/registrations", register)
        .add(Method::GET, "/api/v1/settings/ecs", get_ecs_settings)
        .add(Method::PUT, "/api/v1/settings/ecs", put_ecs_settings)
        .add(Method::GET, "/api/v1/registries", list_registries)
        .add(Method::PUT, "/api/v1/registries/{registry}", put_registry)
        .add(
            Method::DELETE,
            "/api/v1/registries/{registry}",
            delete_registry,
        )
        .add(Method::GET, "/api/v1/health", || async {
            Json(json!({ "status": "ok" }))
        })
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
    pub resolutions: Vec<Resolution>,
    /// What the console did besides generating: a token created for the family, where it went.
    pub notes: Vec<String>,
}

fn input_text(input: Value) -> String {
    match input {
        Value::String(text) => text,
        other => to_pretty(&other),
    }
}

fn option_problem(message: String) -> ApiError {
    Rejected::one(Problem {
        kind: ProblemKind::Options,
        pointer: None,
        line: None,
        column: None,
        message,
        hint: None,
        container: None,
    })
    .into()
}

/// The request as the console's: a malformed one is 400, options that cannot work are 422.
fn generate_request(request: ProtectRequest) -> Result<GenerateRequest, ApiError> {
    let options = request.options;
    let token = match (
        options.token,
        options.token_secret,
        options.create_token.as_deref(),
    ) {
        (Some(token), None, None) => TokenChoice::Given(TokenSource::Plain(token)),
        (None, Some(arn), None) => TokenChoice::Given(TokenSource::Secret(arn)),
        (None, None, Some("plain")) => TokenChoice::Create(TokenHome::TaskDefinition),
        (None, None, Some("secret")) => TokenChoice::Create(TokenHome::SecretsManager),
        (None, None, Some(_)) => {
            return Err(ApiError::malformed(
                r#"create_token is "plain" or "secret""#,
            ))
        }
        (None, None, None) => TokenChoice::None,
        _ => {
            return Err(ApiError::malformed(
                "give one of token, token_secret and create_token",
            ))
        }
    };
    let mode = match options.mode.as_deref() {
        None | Some("") => Mode::Availability,
        Some(other) => other.parse::<Mode>().map_err(option_problem)?,
    };
    let mut given = BTreeMap::new();
    for (name, argv) in options.entrypoints {
        given.insert(name.clone(), image_argv(&name, &argv.to_string())?);
    }
    Ok(GenerateRequest {
        input: input_text(request.input),
        options: ProtectOptions {
            mode,
            console_url: non_blank(options.console_url.as_deref()),
            token: None,
            include: options.include,
            exclude: options.exclude,
            image_argv: given,
            defender_image: non_blank(options.defender_image.as_deref()),
        },
        token,
        resolve: !options.no_resolve,
    })
}

#[tracing::instrument(skip_all)]
async fn protect(
    State(console): State<Console>,
    caller: Caller,
    AppJson(request): AppJson<ProtectRequest>,
) -> Result<Json<ProtectResponse>, ApiError> {
    let generation = console.generate(generate_request(request)?).await;
    caller
        .audit(
            &console,
            "generate",
            &palisade_app::api::protect::ssr::audit_target(&generation),
            &palisade_app::api::protect::ssr::audit_outcome(&generation),
        )
        .await;
    let generation = generation?;
    match generation.result {
        GenerationResult::Generated { id, protected } => {
            let protected = *protected;
            Ok(Json(ProtectResponse {
                summary_lines: protected.summary.lines(),
                output: protected.output,
                form: protected.form,
                family: protected.family,
                summary: protected.summary,
                warnings: protected.warnings,
                containers: protected.plan,
                generation_id: id,
                resolutions: generation.resolutions,
                notes: generation.notes,
            }))
        }
        GenerationResult::Refused { rejected, .. } => Err(rejected.into()),
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
        .map_err(|error| palisade_console::Error::internal("unprotecting", error))??;
    Ok(Json(
        json!({ "output": unprotected.output, "form": unprotected.form, "was_protected": unprotected.was_protected }),
    ))
}

async fn list_generations(State(console): State<Console>) -> Result<Json<Value>, ApiError> {
    let items: Vec<GenerationListItem> = generations::recent(console.db(), 100)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(json!({ "generations": items })))
}

async fn get_generation(
    State(console): State<Console>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let record = generations::get(console.db(), id).await?;
    let item = GenerationListItem::from(record.item);
    Ok(Json(json!({
        "id": item.id,
        "created_at": item.created_at,
        "family": item.family,
        "containers_protected": item.containers_protected,
        "summary": item.summary,
        "input": record.input,
        "output": record.output,
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
    State(console): State<Console>,
    caller: Caller,
    AppJson(request): AppJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegistrationView>), ApiError> {
    let result = console
        .register_generation(request.generation_id, &caller.name())
        .await;
    let target = format!("generation {}", request.generation_id);
    let (registration, outcome) = caller
        .audited(&console, "register", &target, result)
        .await?;
    let status = match outcome {
        Outcome::Registered => StatusCode::CREATED,
        Outcome::AlreadyRegistered => StatusCode::OK,
    };
    Ok((status, Json(registration.into())))
}

async fn list_registrations(State(console): State<Console>) -> Result<Json<Value>, ApiError> {
    let rows: Vec<RegistrationView> = palisade_console::registrations::list(console.db(), 200)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(json!({ "registrations": rows })))
}

/// The console's AWS settings as the Settings page shows them (empty = the SDK's standard chain).
async fn get_ecs_settings(
    State(console): State<Console>,
) -> Result<Json<EcsSettingsView>, ApiError> {
    Ok(Json(console.aws_settings().await?.into()))
}

async fn put_ecs_settings(
    State(console): State<Console>,
    caller: Caller,
    AppJson(view): AppJson<EcsSettingsView>,
) -> Result<Json<EcsSettingsView>, ApiError> {
    let saved = match view.parse(console.deployment().ecs_endpoint.as_deref()) {
        Ok(parsed) => settings::save(console.db(), &parsed).await,
        Err(error) => Err(error),
    };
    let saved = caller
        .audited(&console, "settings-save", "aws", saved)
        .await;
    saved?;
    get_ecs_settings(State(console)).await
}

/// The registries the console has settings for (user names and password references, never a password).
async fn list_registries(State(console): State<Console>) -> Result<Json<Value>, ApiError> {
    let rows = registries::list(console.db()).await?;
    Ok(Json(json!({ "registries": rows })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryRequest {
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

async fn put_registry(
    State(console): State<Console>,
    caller: Caller,
    Path(registry): Path<String>,
    AppJson(request): AppJson<RegistryRequest>,
) -> Result<StatusCode, ApiError> {
    let saved = match RegistrySettings::parse(
        &registry,
        request.username.as_deref(),
        request.password_ref.as_deref(),
        request.endpoint.as_deref(),
        request.credentials_to_endpoint,
        console.deployment().secrets_dir.as_deref(),
    ) {
        Ok(settings) => registries::save(console.db(), &settings).await,
        Err(error) => Err(error),
    };
    let saved = caller
        .audited(&console, "registry-save", &registry, saved)
        .await;
    saved?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_registry(
    State(console): State<Console>,
    caller: Caller,
    Path(registry): Path<String>,
) -> Result<StatusCode, ApiError> {
    let removed = registries::remove(console.db(), &registry).await;
    let removed = caller
        .audited(&console, "registry-remove", &registry, removed)
        .await;
    removed?;
    Ok(StatusCode::NO_CONTENT)
}
