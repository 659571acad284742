//! The Protect page's server functions (Generate, recent generations, reopening one) and their
//! view types.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

pub use palisade_types::protect::GenerateOptions;

/// What the user asks for on the Protect page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    pub input: String,
    pub options: GenerateOptions,
}

/// The token choice of the options bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenKind {
    /// The console creates a token for the family and embeds it.
    #[default]
    New,
    /// The console creates a token, stores it in Secrets Manager and embeds the secret's ARN.
    NewSecret,
    None,
    /// A Secrets Manager or SSM ARN, given.
    Secret,
    /// A token, given (written in plain `environment`).
    Plain,
}

impl TokenKind {
    /// Every kind, in the order the options bar offers them, with its label.
    pub const CHOICES: [(TokenKind, &'static str); 5] = [
        (TokenKind::New, "create one for this family (plain)"),
        (
            TokenKind::NewSecret,
            "create one, store it in Secrets Manager",
        ),
        (TokenKind::None, "none"),
        (TokenKind::Secret, "Secrets Manager / SSM ARN"),
        (TokenKind::Plain, "plain (visible in the task definition)"),
    ];

    /// Its value in the page's `<select>`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::New => "new",
            TokenKind::NewSecret => "new-secret",
            TokenKind::None => "none",
            TokenKind::Secret => "secret",
            TokenKind::Plain => "plain",
        }
    }

    pub fn from_value(value: &str) -> Option<Self> {
        Self::CHOICES
            .iter()
            .map(|(kind, _)| *kind)
            .find(|kind| kind.as_str() == value)
    }

    /// The user types the token or the ARN.
    pub fn takes_value(self) -> bool {
        matches!(self, TokenKind::Secret | TokenKind::Plain)
    }
}

/// The profiles the Protect page offers: value and label.
pub const PROFILE_CHOICES: [(&str, &str); 3] = [
    ("palisade", "Palisade defender"),
    ("datadog-cws", "Datadog Workload Protection"),
    ("sysdig-serverless", "Sysdig Serverless Agent"),
];

/// One problem with the input, ready to show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProblemView {
    pub place: String,
    pub line: Option<usize>,
    pub pointer: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

/// What one row of the side-by-side diff shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    Same,
    Removed,
    Added,
    Changed,
    /// A run of unchanged lines, folded.
    Folded,
}

impl DiffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::Same => "same",
            DiffKind::Removed => "removed",
            DiffKind::Added => "added",
            DiffKind::Changed => "changed",
            DiffKind::Folded => "folded",
        }
    }
}

/// One row of the side-by-side diff.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffRow {
    pub kind: DiffKind,
    pub old_line: Option<usize>,
    pub old_text: String,
    pub new_line: Option<usize>,
    pub new_text: String,
    /// How many lines a folded row stands for.
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

pub use palisade_types::generations::GenerationListItem;

/// A stored generation, reopened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationDetail {
    pub item: GenerationListItem,
    pub input: String,
    pub response: GenerateResponse,
}

/// Protects the pasted text and records the generation.
#[server(endpoint = "generate", input = Json)]
pub async fn generate(request: GenerateRequest) -> Result<GenerateResponse, ServerFnError> {
    let console = super::console_for::<Generate>()?;
    let decoded = palisade_console::generate::GenerateRequest::decode;
    let request = match decoded(request.input, request.options) {
        Ok(request) => request,
        Err(rejected) => return Ok(ssr::refused_options(&rejected)),
    };
    let generation = console
        .generations()
        .generate(&super::actor(), request)
        .await;
    Ok(ssr::response(&generation.map_err(super::server_error)?))
}

/// The token choice the options bar starts with: a token kept in Secrets Manager when the console
/// can store it there (it has a region and credentials), else one embedded plain.
#[server(endpoint = "token-default")]
pub async fn token_default() -> Result<TokenKind, ServerFnError> {
    let console = super::console_for::<TokenDefault>()?;
    Ok(if console.can_store_secrets().await {
        TokenKind::NewSecret
    } else {
        TokenKind::New
    })
}

/// The newest generations, newest first.
#[server(endpoint = "recent-generations")]
pub async fn recent_generations() -> Result<Vec<GenerationListItem>, ServerFnError> {
    let console = super::console_for::<RecentGenerations>()?;
    let items = console
        .generations()
        .recent(20)
        .await
        .map_err(super::server_error)?;
    let disclosure = super::disclosure();
    Ok(items
        .into_iter()
        .map(|item| item.disclosed(disclosure).into())
        .collect())
}

/// One stored generation, with its input and result.
#[server(endpoint = "load-generation")]
pub async fn load_generation(id: i64) -> Result<GenerationDetail, ServerFnError> {
    let console = super::console_for::<LoadGeneration>()?;
    let record = console
        .generations()
        .get(id)
        .await
        .map_err(super::server_error)?;
    Ok(ssr::detail(record))
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Options bar in, console request out; console generation out, page view in.

    use super::*;
    use crate::format::human_duration;
    use palisade_console::clock::now_ms;
    use palisade_console::generate::{Generation, GenerationResult};
    use palisade_console::generations::GenerationRecord;
    use palisade_console::images::Resolution;
    use palisade_taskdef::diff::{side_by_side, Row};
    use palisade_taskdef::protect::ContainerPlan;
    use palisade_taskdef::template::TemplateFormat;
    use palisade_taskdef::{to_pretty, Problem, Rejected};

    fn problem_view(problem: &Problem) -> ProblemView {
        ProblemView {
            place: problem.place(),
            line: problem.line,
            pointer: problem.pointer.clone(),
            message: problem.message.clone(),
            hint: problem.hint.clone(),
        }
    }

    /// The page's answer to options it could not read.
    pub fn refused_options(rejected: &Rejected) -> GenerateResponse {
        GenerateResponse {
            problems: rejected.problems.iter().map(problem_view).collect(),
            ..GenerateResponse::default()
        }
    }

    fn diff_row(row: Row) -> DiffRow {
        let empty = |kind| DiffRow {
            kind,
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
                old_line: Some(old_line),
                new_line: Some(new_line),
                old_text: text.clone(),
                new_text: text,
                ..empty(DiffKind::Same)
            },
            Row::Removed { old_line, text } => DiffRow {
                old_line: Some(old_line),
                old_text: text,
                ..empty(DiffKind::Removed)
            },
            Row::Added { new_line, text } => DiffRow {
                new_line: Some(new_line),
                new_text: text,
                ..empty(DiffKind::Added)
            },
            Row::Changed {
                old_line,
                old_text,
                new_line,
                new_text,
            } => DiffRow {
                old_line: Some(old_line),
                old_text,
                new_line: Some(new_line),
                new_text,
                ..empty(DiffKind::Changed)
            },
            Row::Folded { count } => DiffRow {
                folded: count,
                ..empty(DiffKind::Folded)
            },
        }
    }

    fn diff(old: &str, new: &str) -> Vec<DiffRow> {
        side_by_side(old, new, 3)
            .into_iter()
            .map(diff_row)
            .collect()
    }

    /// Each container's row, saying where a wrapped container's argv came from (or why its image
    /// could not be read).
    fn containers(
        plans: &[ContainerPlan],
        resolutions: &[Resolution],
        given: &[String],
    ) -> Vec<ContainerChoice> {
        let now = now_ms();
        plans
            .iter()
            .map(|plan| {
                let mut choice = ContainerChoice {
                    name: plan.name.clone(),
                    image: plan.image.clone(),
                    protect: plan.protect,
                    reason: plan.reason.clone(),
                    needs_image_argv: plan.needs_image_argv,
                    has_command: plan.has_command,
                    argv_source: None,
                    argv_error: None,
                };
                if plan.needs_image_argv {
                    if given.contains(&plan.name) {
                        choice.argv_source = Some("given by you".into());
                    }
                    match resolutions
                        .iter()
                        .find(|r| r.container == plan.name)
                        .map(|r| &r.result)
                    {
                        Some(Ok(config)) => {
                            choice.argv_source = Some(format!(
                                "from image {}, resolved {} ago",
                                config.pinned(),
                                human_duration(now - config.resolved_at_ms)
                            ))
                        }
                        Some(Err(reason)) => choice.argv_error = Some(reason.clone()),
                        None => {}
                    }
                }
                choice
            })
            .collect()
    }

    fn download_name(family: Option<&str>) -> String {
        format!("{}-protected.json", family.unwrap_or("containers"))
    }

    /// What the page shows of a generation.
    pub fn response(generation: &Generation) -> GenerateResponse {
        let notes = generation.notes.iter().cloned();
        match &generation.result {
            GenerationResult::Generated { id, protected } => {
                let output = to_pretty(&protected.output);
                GenerateResponse {
                    diff: diff(&to_pretty(&protected.normalized), &output),
                    download_name: download_name(protected.family.as_deref()),
                    family: protected.family.clone(),
                    summary: protected.summary.lines(),
                    warnings: protected
                        .warnings
                        .iter()
                        .map(ToString::to_string)
                        .chain(notes)
                        .collect(),
                    containers: containers(
                        &protected.plan,
                        &generation.resolutions,
                        &generation.given_argv,
                    ),
                    output,
                    problems: Vec::new(),
                    generation_id: *id,
                }
            }
            GenerationResult::Template(template) => GenerateResponse {
                diff: diff(&template.normalized, &template.output),
                download_name: match template.format {
                    TemplateFormat::Json => "template-protected.json".into(),
                    TemplateFormat::Yaml => "template-protected.yaml".into(),
                },
                summary: template.describe().lines().map(str::to_owned).collect(),
                warnings: template
                    .warnings()
                    .iter()
                    .map(ToString::to_string)
                    .chain(notes)
                    .collect(),
                output: template.output.clone(),
                ..GenerateResponse::default()
            },
            GenerationResult::Refused { rejected, plan } => GenerateResponse {
                problems: rejected.problems.iter().map(problem_view).collect(),
                containers: containers(plan, &generation.resolutions, &generation.given_argv),
                warnings: notes.collect(),
                ..GenerateResponse::default()
            },
        }
    }

    /// A recorded generation as the page shows it again.
    pub fn detail(record: GenerationRecord) -> GenerationDetail {
        let given: Vec<String> = record.options.image_argv.keys().cloned().collect();
        let response = GenerateResponse {
            diff: diff(&record.normalized, &record.output),
            download_name: download_name(record.item.family.as_deref()),
            family: record.item.family.clone(),
            summary: record.item.summary.clone(),
            warnings: record
                .warnings
                .iter()
                .map(ToString::to_string)
                .chain(record.notes.iter().cloned())
                .collect(),
            containers: containers(&record.containers, &record.resolutions, &given),
            output: record.output,
            problems: Vec::new(),
            generation_id: Some(record.item.id),
        };
        GenerationDetail {
            item: record.item.into(),
            input: record.input,
            response,
        }
    }
}
