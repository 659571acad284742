//! Server functions of the Protect page and the plain data they exchange with the browser.
//!
//! The view types here are deliberately simple (strings and numbers) so the wasm bundle does not
//! need the task-definition crate; the conversion from it happens on the server.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

/// What the user asks for on the Protect page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub input: String,
    pub options: UiOptions,
}

/// The options bar.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UiOptions {
    /// `availability` or `security`.
    pub mode: String,
    pub console_url: String,
    /// `new` (the console creates a token for the family and embeds it), `none`, `plain` or `secret`.
    pub token_kind: String,
    pub token_value: String,
    pub defender_image: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Container name -> image argv as JSON text (`["/entrypoint.sh", "serve"]`).
    pub entrypoints: Vec<(String, String)>,
    /// Do not read missing entrypoints from the image registries.
    #[serde(default)]
    pub no_resolve: bool,
}

/// One problem with the input, ready to show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProblemView {
    pub place: String,
    pub line: Option<usize>,
    pub pointer: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

/// One row of the side-by-side diff (`kind`: same, removed, added, changed, folded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffRow {
    pub kind: String,
    pub old_line: Option<usize>,
    pub old_text: String,
    pub new_line: Option<usize>,
    pub new_text: String,
    pub folded: usize,
}

/// A container's row in the options bar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerChoice {
    pub name: String,
    pub image: String,
    pub protect: bool,
    pub reason: Option<String>,
    pub needs_image_argv: bool,
    pub has_command: bool,
    /// Where its argv came from: "given by you", or "from image repo@sha256:…, resolved 2 min ago".
    #[serde(default)]
    pub argv_source: Option<String>,
    /// Why its image could not be read.
    #[serde(default)]
    pub argv_error: Option<String>,
}

/// Everything the page shows after Generate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateResponse {
    /// Empty when the input was refused.
    pub output: String,
    pub family: Option<String>,
    pub download_name: String,
    pub problems: Vec<ProblemView>,
    pub summary: Vec<String>,
    pub warnings: Vec<String>,
    pub diff: Vec<DiffRow>,
    pub containers: Vec<ContainerChoice>,
    pub generation_id: Option<i64>,
}

/// A line of "Recent generations".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationListItem {
    pub id: i64,
    pub created_at: String,
    pub family: Option<String>,
    pub containers_protected: Vec<String>,
    pub summary: Vec<String>,
}

/// A stored generation, reopened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationDetail {
    pub item: GenerationListItem,
    pub input: String,
    pub response: GenerateResponse,
}

/// One registration attempt, as the Revisions page and the Register button show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegistrationView {
    pub id: i64,
    pub created_at: String,
    pub generation_id: Option<i64>,
    pub registered_by: String,
    pub family: String,
    pub input_sha256: String,
    pub output_sha256: String,
    /// pending, registered or failed.
    pub status: String,
    pub task_definition_arn: Option<String>,
    pub revision: Option<i64>,
    pub console_link: Option<String>,
    pub error: Option<String>,
}

/// The Settings page's ECS fields; empty means the AWS SDK's standard chain decides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EcsSettingsView {
    pub region: String,
    pub profile: String,
    pub endpoint_url: String,
}

/// A registry's settings as the Settings page shows and edits them; empty means unset. Never a
/// password: `password_ref` says where the console reads it (`env:NAME` or `file:/path`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegistryView {
    pub registry: String,
    pub username: String,
    pub password_ref: String,
    pub endpoint: String,
    /// A private ECR host without credentials of its own: its login comes from the AWS chain.
    /// Shown, never saved.
    #[serde(default)]
    pub ecr_login: bool,
}

/// A server function's error as the user should read it: the server's own message, without the
/// "error running server function" prefix.
pub fn error_text(error: &ServerFnError) -> String {
    match error {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}

/// Who registers, until the console has logins.
pub const REGISTERED_BY_CONSOLE: &str = "console (no login yet)";

/// The console's database, from the server functions' context.
#[cfg(feature = "ssr")]
pub(crate) fn pool() -> Result<sqlx::SqlitePool, ServerFnError> {
    use_context::<sqlx::SqlitePool>()
        .ok_or_else(|| ServerFnError::new("the console has no database"))
}

/// A database failure: logged in full, answered in a line that says where to look.
#[cfg(feature = "ssr")]
pub(crate) fn internal(what: &'static str) -> impl FnOnce(sqlx::Error) -> ServerFnError {
    move |error| {
        tracing::error!(%error, "{what} failed");
        ServerFnError::new(format!("{what} failed; see the console's log"))
    }
}

#[cfg(feature = "ssr")]
async fn ecs_client() -> Result<aws_sdk_ecs::Client, ServerFnError> {
    let settings = crate::registrations::load_settings(&pool()?)
        .await
        .map_err(internal("reading the settings"))?;
    crate::ecs::client(&settings)
        .await
        .map_err(|error| ServerFnError::new(error.to_string()))
}

/// Registers the result of a generation as a new ECS revision, once: a second call for the same
/// generation answers with the first registration.
#[server(input = Json)]
pub async fn register_generation(generation_id: i64) -> Result<RegistrationView, ServerFnError> {
    let pool = pool()?;
    let settings = crate::registrations::load_settings(&pool)
        .await
        .map_err(internal("reading the settings"))?;
    match crate::registrations::register_generation(
        &pool,
        generation_id,
        &settings,
        REGISTERED_BY_CONSOLE,
    )
    .await
    {
        Ok((registration, _)) => Ok(registration),
        Err(crate::registrations::RegisterError::Database(error)) => {
            Err(internal("recording the registration")(error))
        }
        Err(error) => Err(ServerFnError::new(error.to_string())),
    }
}

/// Every registration, newest first.
#[server]
pub async fn list_registrations() -> Result<Vec<RegistrationView>, ServerFnError> {
    crate::registrations::list(&pool()?, 200)
        .await
        .map_err(internal("listing the registrations"))
}

/// Task definition families with an active revision, for Import from ECS.
#[server]
pub async fn ecs_families() -> Result<Vec<String>, ServerFnError> {
    crate::ecs::list_families(&ecs_client().await?)
        .await
        .map_err(|error| ServerFnError::new(error.to_string()))
}

/// The revision ARNs of `family`, newest first.
#[server]
pub async fn ecs_revisions(family: String) -> Result<Vec<String>, ServerFnError> {
    crate::ecs::list_revisions(&ecs_client().await?, &family)
        .await
        .map_err(|error| ServerFnError::new(error.to_string()))
}

/// The describe output (with tags) of `FAMILY`, `FAMILY:REVISION` or an ARN, pretty-printed for
/// the editor: the generator takes it as it is.
#[server]
pub async fn ecs_import(task_definition: String) -> Result<String, ServerFnError> {
    let described = crate::ecs::describe(&ecs_client().await?, &task_definition)
        .await
        .map_err(|error| ServerFnError::new(error.to_string()))?;
    Ok(palisade_taskdef::to_pretty(&described))
}

/// The saved ECS settings.
#[server]
pub async fn get_ecs_settings() -> Result<EcsSettingsView, ServerFnError> {
    let settings = crate::registrations::load_settings(&pool()?)
        .await
        .map_err(internal("reading the settings"))?;
    Ok(settings.into())
}

/// Saves the ECS settings.
#[server(input = Json)]
pub async fn save_ecs_settings(settings: EcsSettingsView) -> Result<(), ServerFnError> {
    match crate::registrations::save_settings(&pool()?, &settings).await {
        Ok(()) => Ok(()),
        Err(crate::registrations::SettingsError::Invalid(message)) => {
            Err(ServerFnError::new(message))
        }
        Err(crate::registrations::SettingsError::Database(error)) => {
            Err(internal("saving the settings")(error))
        }
    }
}

/// The registries with settings, by host.
#[server]
pub async fn list_registries() -> Result<Vec<RegistryView>, ServerFnError> {
    let rows = crate::images::registries::list(&pool()?)
        .await
        .map_err(internal("listing the registries"))?;
    Ok(rows
        .into_iter()
        .map(|row| RegistryView {
            ecr_login: row.username.is_none()
                && crate::images::ecr::region_of(&row.registry).is_some(),
            registry: row.registry,
            username: row.username.unwrap_or_default(),
            password_ref: row.password_ref.unwrap_or_default(),
            endpoint: row.endpoint.unwrap_or_default(),
        })
        .collect())
}

/// Saves one registry's settings (replacing what it had), after checking them.
#[server(input = Json)]
pub async fn save_registry(registry: RegistryView) -> Result<(), ServerFnError> {
    use crate::images::registries::{check, save, RegistrySettings};
    let settings = RegistrySettings {
        registry: registry.registry,
        username: Some(registry.username),
        password_ref: Some(registry.password_ref),
        endpoint: Some(registry.endpoint),
    }
    .normalized();
    check(&settings).map_err(ServerFnError::new)?;
    save(&pool()?, &settings)
        .await
        .map_err(internal("saving the registry"))
}

/// Forgets one registry's settings.
#[server]
pub async fn remove_registry(registry: String) -> Result<(), ServerFnError> {
    match crate::images::registries::remove(&pool()?, &registry).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ServerFnError::new(format!("no settings for {registry}"))),
        Err(error) => Err(internal("removing the registry")(error)),
    }
}

/// Protects the pasted text and records the generation.
#[server(input = Json)]
pub async fn generate(request: GenerateRequest) -> Result<GenerateResponse, ServerFnError> {
    let pool = pool()?;
    Ok(ssr::generate_and_record(&pool, request).await)
}

/// The newest generations, newest first.
#[server]
pub async fn recent_generations() -> Result<Vec<GenerationListItem>, ServerFnError> {
    let pool = pool()?;
    crate::history::recent(&pool, 20)
        .await
        .map_err(internal("listing recent generations"))
}

/// One stored generation, with its input and result.
#[server]
pub async fn load_generation(id: i64) -> Result<GenerationDetail, ServerFnError> {
    let pool = pool()?;
    match crate::history::get(&pool, id).await {
        Ok(Some(detail)) => Ok(detail),
        Ok(None) => Err(ServerFnError::new(format!(
            "generation {id} does not exist"
        ))),
        Err(error) => Err(internal("loading the generation")(error)),
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The server side of the Protect page: options in, view data out.

    use super::*;
    use palisade_taskdef::diff::{side_by_side, Row};
    use palisade_taskdef::protect::{plan_text, ContainerPlan};
    use palisade_taskdef::{
        protect_text, to_pretty, ImageArgv, Mode, Problem, ProblemKind, ProtectOptions, Protected,
        Rejected, TokenSource,
    };

    /// The token kind that asks the console to create a token for the task's family.
    pub const NEW_TOKEN: &str = "new";
    /// The same, with the token stored in Secrets Manager and the task given its ARN.
    pub const NEW_SECRET_TOKEN: &str = "new-secret";

    /// A refusal of the options (not of the input).
    fn option_problem(message: String) -> Rejected {
        Rejected::one(Problem {
            kind: ProblemKind::Options,
            pointer: None,
            line: None,
            column: None,
            message,
            hint: None,
        })
    }

    /// Turns the options bar into protect options, or says which field is wrong.
    pub fn protect_options(ui: &UiOptions) -> Result<ProtectOptions, Rejected> {
        let mode = match ui.mode.as_str() {
            "" => Mode::Availability,
            other => other.parse().map_err(option_problem)?,
        };
        let token_value = ui.token_value.trim().to_owned();
        let token = match (ui.token_kind.as_str(), token_value.is_empty()) {
            (_, true) | ("none" | "", _) => None,
            ("plain", false) => Some(TokenSource::Plain(token_value)),
            ("secret", false) => Some(TokenSource::Secret(token_value)),
            (other, _) => return Err(option_problem(format!("unknown token kind `{other}`"))),
        };
        let mut image_argv = std::collections::BTreeMap::new();
        for (name, text) in &ui.entrypoints {
            if text.trim().is_empty() {
                continue;
            }
            let argv = ImageArgv::from_json(text)
                .map_err(|error| option_problem(format!("entrypoint of `{name}`: {error}")))?;
            image_argv.insert(name.clone(), argv);
        }
        let non_empty = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
        Ok(ProtectOptions {
            mode,
            console_url: non_empty(&ui.console_url),
            token,
            include: ui.include.clone(),
            exclude: ui.exclude.clone(),
            image_argv,
            defender_image: non_empty(&ui.defender_image),
        })
    }

    fn problem_view(problem: &Problem) -> ProblemView {
        ProblemView {
            place: problem.place(),
            line: problem.line,
            pointer: problem.pointer.clone(),
            message: problem.message.clone(),
            hint: problem.hint.clone(),
        }
    }

    fn diff_row(row: Row) -> DiffRow {
        let empty = DiffRow {
            kind: String::new(),
            old_line: None,
            old_text: String::new(),
            new_line: None,
            new_text: String::new(),
            folded: 0,
        };
        match row {
            Row::Same {
                old_line,
                new_line,
                text,
            } => DiffRow {
                kind: "same".into(),
                old_line: Some(old_line),
                new_line: Some(new_line),
                old_text: text.clone(),
                new_text: text,
                ..empty
            },
            Row::Removed { old_line, text } => DiffRow {
                kind: "removed".into(),
                old_line: Some(old_line),
                old_text: text,
                ..empty
            },
            Row::Added { new_line, text } => DiffRow {
                kind: "added".into(),
                new_line: Some(new_line),
                new_text: text,
                ..empty
            },
            Row::Changed {
                old_line,
                old_text,
                new_line,
                new_text,
            } => DiffRow {
                kind: "changed".into(),
                old_line: Some(old_line),
                old_text,
                new_line: Some(new_line),
                new_text,
                ..empty
            },
            Row::Folded { count } => DiffRow {
                kind: "folded".into(),
                folded: count,
                ..empty
            },
        }
    }

    fn container_choice(plan: ContainerPlan) -> ContainerChoice {
        ContainerChoice {
            name: plan.name,
            image: plan.image,
            protect: plan.protect,
            reason: plan.reason,
            needs_image_argv: plan.needs_image_argv,
            has_command: plan.has_command,
            argv_source: None,
            argv_error: None,
        }
    }

    /// A generation's full result: the page's view, and for the REST API the typed pieces.
    pub struct Outcome {
        pub response: GenerateResponse,
        /// Set when protection succeeded.
        pub protected: Option<(Protected, ProtectOptions)>,
        /// Set when the input or the options were refused.
        pub rejected: Option<Rejected>,
        /// The entrypoints looked up in image registries.
        pub resolutions: Vec<crate::images::Resolution>,
        /// What the console did besides generating (a token created, where it was stored); also
        /// among the response's warnings.
        pub notes: Vec<String>,
    }

    impl Outcome {
        fn note(&mut self, note: String) {
            self.response.warnings.push(note.clone());
            self.notes.push(note);
        }
    }

    /// Runs the generator and shapes the answer for the page (CPU work: call it off the runtime).
    fn refused(rejected: Rejected, containers: Vec<ContainerChoice>) -> Outcome {
        Outcome {
            response: GenerateResponse {
                problems: rejected.problems.iter().map(problem_view).collect(),
                containers,
                ..GenerateResponse::default()
            },
            protected: None,
            rejected: Some(rejected),
            resolutions: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn run(request: &GenerateRequest) -> Outcome {
        let options = match protect_options(&request.options) {
            Ok(options) => options,
            Err(rejected) => return refused(rejected, Vec::new()),
        };
        match protect_text(&request.input, &options) {
            Ok(protected) => {
                let old = to_pretty(&protected.normalized);
                let output = to_pretty(&protected.output);
                let family = protected.family.clone();
                let response = GenerateResponse {
                    diff: side_by_side(&old, &output, 3)
                        .into_iter()
                        .map(diff_row)
                        .collect(),
                    download_name: format!(
                        "{}-protected.json",
                        family.as_deref().unwrap_or("containers")
                    ),
                    family,
                    summary: protected.summary.lines(),
                    warnings: protected.warnings.iter().map(ToString::to_string).collect(),
                    containers: protected
                        .plan
                        .iter()
                        .cloned()
                        .map(container_choice)
                        .collect(),
                    output,
                    problems: Vec::new(),
                    generation_id: None,
                };
                Outcome {
                    response,
                    protected: Some((protected, options)),
                    rejected: None,
                    resolutions: Vec::new(),
                    notes: Vec::new(),
                }
            }
            Err(rejected) => {
                // The plan is what the user needs to fix a refusal (entrypoint fields, toggles).
                let containers = plan_text(&request.input, &options)
                    .map(|plans| plans.into_iter().map(container_choice).collect())
                    .unwrap_or_default();
                refused(rejected, containers)
            }
        }
    }

    /// Generates off the async runtime and, when it succeeded, stores it in the history.
    pub async fn run_and_record(pool: &sqlx::SqlitePool, mut request: GenerateRequest) -> Outcome {
        let resolutions = resolve_entrypoints(pool, &mut request).await;
        let given: Vec<String> = request
            .options
            .entrypoints
            .iter()
            .filter(|(name, text)| {
                !text.trim().is_empty() && !resolutions.iter().any(|r| &r.container == name)
            })
            .map(|(name, _)| name.clone())
            .collect();
        let input = request.input.clone();
        let new_token =
            [NEW_TOKEN, NEW_SECRET_TOKEN].contains(&request.options.token_kind.as_str());
        let mut outcome = if new_token {
            with_new_token(pool, request).await
        } else {
            tokio_blocking(move || run(&request)).await
        };
        describe_argv_sources(&mut outcome.response.containers, &resolutions, &given);
        if let Some(rejected) = &mut outcome.rejected {
            explain_refusal(rejected, &resolutions);
            outcome.response.problems = rejected.problems.iter().map(problem_view).collect();
        }
        outcome.resolutions = resolutions;
        if let Some((_, options)) = &outcome.protected {
            match crate::history::record(pool, &input, options, &outcome.response).await {
                Ok(id) => outcome.response.generation_id = Some(id),
                // The result is still worth showing; only the history entry is missing.
                Err(error) => tracing::error!(%error, "recording a generation failed"),
            }
        }
        outcome
    }

    /// Reads the argv of containers without `entryPoint` (and none given) from their images, all
    /// at once, and passes what was found to the generator as if given (the user's own argv
    /// always wins: those containers are not looked up).
    async fn resolve_entrypoints(
        pool: &sqlx::SqlitePool,
        request: &mut GenerateRequest,
    ) -> Vec<crate::images::Resolution> {
        if request.options.no_resolve {
            return Vec::new();
        }
        let Ok(mut options) = protect_options(&request.options) else {
            return Vec::new(); // the generator reports the options' problem
        };
        let resolutions =
            crate::images::resolve_missing(Some(pool), &request.input, &mut options).await;
        for resolution in &resolutions {
            if let Some(argv) = options.image_argv.get(&resolution.container) {
                if let Ok(text) = serde_json::to_string(argv) {
                    request
                        .options
                        .entrypoints
                        .retain(|(name, _)| name != &resolution.container);
                    request
                        .options
                        .entrypoints
                        .push((resolution.container.clone(), text));
                }
            }
        }
        resolutions
    }

    /// A missing entrypoint whose image could not be read says why, next to how to give it.
    fn explain_refusal(rejected: &mut Rejected, resolutions: &[crate::images::Resolution]) {
        for problem in rejected
            .problems
            .iter_mut()
            .filter(|p| p.kind == ProblemKind::MissingEntrypoint)
        {
            let failed = resolutions.iter().find_map(|r| match &r.result {
                Err(reason)
                    if problem
                        .message
                        .contains(&format!("container `{}`", r.container)) =>
                {
                    Some(reason)
                }
                _ => None,
            });
            if let Some(reason) = failed {
                problem.message = format!(
                    "{} (reading it from the registry failed: {reason})",
                    problem.message
                );
            }
        }
    }

    /// Says per container where its argv came from, or why its image could not be read.
    fn describe_argv_sources(
        containers: &mut [ContainerChoice],
        resolutions: &[crate::images::Resolution],
        given: &[String],
    ) {
        let now = crate::defenders::store::now_ms();
        for container in containers.iter_mut().filter(|c| c.needs_image_argv) {
            if given.contains(&container.name) {
                container.argv_source = Some("given by you".into());
            }
            match resolutions
                .iter()
                .find(|r| r.container == container.name)
                .map(|r| &r.result)
            {
                Some(Ok(config)) => {
                    container.argv_source = Some(format!(
                        "from image {}, resolved {} ago",
                        config.pinned(),
                        crate::defenders::human_duration(now - config.resolved_at_ms)
                    ))
                }
                Some(Err(reason)) => container.argv_error = Some(reason.clone()),
                None => {}
            }
        }
    }

    /// Token kind "new": the console creates a token for the task's family and embeds it; kind
    /// "new-secret": the token goes to Secrets Manager and the task gets the secret's ARN. The
    /// generation runs first with a stand-in, so a refused input creates no token; a token that
    /// cannot be stored as a secret is revoked and the generation refused (never embedded plain
    /// instead).
    async fn with_new_token(pool: &sqlx::SqlitePool, mut request: GenerateRequest) -> Outcome {
        let as_secret = request.options.token_kind == NEW_SECRET_TOKEN;
        request.options.token_kind = "plain".into();
        request.options.token_value = "pal_stand-in".into();
        let trial = request.clone();
        let outcome = tokio_blocking(move || run(&trial)).await;
        if outcome.protected.is_none() {
            return outcome;
        }
        let Some(family) = outcome.response.family.clone() else {
            // A containerDefinitions array: no family to bind a token to.
            request.options.token_kind = "none".into();
            let mut outcome = tokio_blocking(move || run(&request)).await;
            outcome.note(
                "no token was created: a containerDefinitions array has no family; create one in Settings and give it as PALISADE_TOKEN".into(),
            );
            return outcome;
        };
        let created =
            match crate::defenders::store::create_token(pool, &family, "created by Generate").await
            {
                Ok(created) => created,
                Err(error) => {
                    tracing::error!(%error, "creating a token for a generation failed");
                    return refused(
                        option_problem(format!(
                            "no token could be created for family {family}: {error}"
                        )),
                        outcome.response.containers,
                    );
                }
            };
        let warning = if as_secret {
            let settings = crate::registrations::load_settings(pool)
                .await
                .unwrap_or_default();
            match crate::secrets::store_token(&settings, &family, &created.token).await {
                Ok(arn) => {
                    request.options.token_kind = "secret".into();
                    request.options.token_value = arn;
                    format!(
                        "token {} was created for family {family} and stored in Secrets Manager as {} (the task gets its ARN); the task's execution role needs secretsmanager:GetSecretValue on it",
                        created.id,
                        crate::secrets::secret_name(&family)
                    )
                }
                Err(reason) => {
                    if let Err(error) =
                        crate::defenders::store::revoke_token(pool, created.id).await
                    {
                        tracing::error!(%error, token = created.id, "revoking an unused token failed");
                    }
                    return refused(
                        option_problem(format!(
                            "the new token could not be stored in Secrets Manager ({reason}); it was revoked. Check the AWS settings, or choose another token kind"
                        )),
                        outcome.response.containers,
                    );
                }
            }
        } else {
            request.options.token_value = created.token;
            format!(
                "token {} was created for family {family} and embedded; revoke it in Settings if this task definition is not used",
                created.id
            )
        };
        let mut outcome = tokio_blocking(move || run(&request)).await;
        outcome.note(warning);
        outcome
    }

    /// The page's server function body.
    pub async fn generate_and_record(
        pool: &sqlx::SqlitePool,
        request: GenerateRequest,
    ) -> GenerateResponse {
        run_and_record(pool, request).await.response
    }

    async fn tokio_blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        match tokio::task::spawn_blocking(work).await {
            Ok(value) => value,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
}
