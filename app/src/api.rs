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
    /// `none`, `plain` or `secret`.
    pub token_kind: String,
    pub token_value: String,
    pub defender_image: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Container name -> image argv as JSON text (`["/entrypoint.sh", "serve"]`).
    pub entrypoints: Vec<(String, String)>,
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

/// Protects the pasted text and records the generation.
#[server(input = Json)]
pub async fn generate(request: GenerateRequest) -> Result<GenerateResponse, ServerFnError> {
    let pool = use_context::<sqlx::SqlitePool>()
        .ok_or_else(|| ServerFnError::new("the console has no database"))?;
    Ok(ssr::generate_and_record(&pool, request).await)
}

/// The newest generations, newest first.
#[server]
pub async fn recent_generations() -> Result<Vec<GenerationListItem>, ServerFnError> {
    let pool = use_context::<sqlx::SqlitePool>()
        .ok_or_else(|| ServerFnError::new("the console has no database"))?;
    crate::history::recent(&pool, 20).await.map_err(|error| {
        tracing::error!(%error, "listing generations failed");
        ServerFnError::new("could not list recent generations")
    })
}

/// One stored generation, with its input and result.
#[server]
pub async fn load_generation(id: i64) -> Result<GenerationDetail, ServerFnError> {
    let pool = use_context::<sqlx::SqlitePool>()
        .ok_or_else(|| ServerFnError::new("the console has no database"))?;
    match crate::history::get(&pool, id).await {
        Ok(Some(detail)) => Ok(detail),
        Ok(None) => Err(ServerFnError::new(format!(
            "generation {id} does not exist"
        ))),
        Err(error) => {
            tracing::error!(%error, "loading a generation failed");
            Err(ServerFnError::new("could not load the generation"))
        }
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

    /// Turns the options bar into protect options, or says which field is wrong.
    pub fn protect_options(ui: &UiOptions) -> Result<ProtectOptions, Rejected> {
        let option_problem = |message: String| {
            Rejected::one(Problem {
                kind: ProblemKind::Options,
                pointer: None,
                line: None,
                column: None,
                message,
                hint: None,
            })
        };
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
        }
    }

    /// A generation's full result: the page's view, and for the REST API the typed pieces.
    pub struct Outcome {
        pub response: GenerateResponse,
        /// Set when protection succeeded.
        pub protected: Option<(Protected, ProtectOptions)>,
        /// Set when the input or the options were refused.
        pub rejected: Option<Rejected>,
    }

    /// Runs the generator and shapes the answer for the page (CPU work: call it off the runtime).
    pub fn run(request: &GenerateRequest) -> Outcome {
        let refused = |rejected: Rejected, containers: Vec<ContainerChoice>| Outcome {
            response: GenerateResponse {
                problems: rejected.problems.iter().map(problem_view).collect(),
                containers,
                ..GenerateResponse::default()
            },
            protected: None,
            rejected: Some(rejected),
        };
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
    pub async fn run_and_record(pool: &sqlx::SqlitePool, request: GenerateRequest) -> Outcome {
        let input = request.input.clone();
        let mut outcome = tokio_blocking(move || run(&request)).await;
        if let Some((_, options)) = &outcome.protected {
            match crate::history::record(pool, &input, options, &outcome.response).await {
                Ok(id) => outcome.response.generation_id = Some(id),
                // The result is still worth showing; only the history entry is missing.
                Err(error) => tracing::error!(%error, "recording a generation failed"),
            }
        }
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
