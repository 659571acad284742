//! Protect and unprotect. Protect adds the `palisade-defender` container, a `palisade` task
//! volume, `pidMode: "task"`, and wraps each protected container's argv with
//! `/palisade/palisade-defender exec --`. What it found before it changed anything is written into
//! a label on the defender container, so unprotect is the exact inverse and protecting a protected
//! task replaces the old protection instead of wrapping twice.

use crate::array_items;
use crate::normalize::{document_of, into_document, normalize, Normalized};
use crate::parse::{parse, InputForm};
use crate::problem::{Problem, ProblemKind, Rejected};
use crate::summary::{
    container_list_note, ArgvSource, SkippedContainer, Summary, Warning, WrappedContainer,
};
use crate::validate::{looks_like_placeholder, validate_document};
use crate::{pointer_push, Path};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The container Palisade adds.
pub const DEFENDER_CONTAINER: &str = "palisade-defender";
/// The task volume the defender copies its binary into.
pub const VOLUME: &str = "palisade";
/// Where app containers see that volume (read-only).
pub const MOUNT_PATH: &str = "/palisade";
/// The wrapper every protected entryPoint starts with.
pub const WRAPPER_PREFIX: [&str; 3] = ["/palisade/palisade-defender", "exec", "--"];
/// The defender container's label holding what protect changed (see [`ProtectionRecord`]).
pub const PROTECTION_LABEL: &str = "io.palisade.protection";
/// The image run as the defender unless the user names another one.
pub const DEFAULT_DEFENDER_IMAGE: &str = concat!(
    "public.ecr.aws/palisade/defender:",
    env!("CARGO_PKG_VERSION")
);
/// The defender's soft memory limit, set only where ECS requires one per container.
pub const DEFENDER_MEMORY_RESERVATION_MIB: u64 = 32;
/// The format version of [`ProtectionRecord`]; older records stay readable.
const RECORD_VERSION: u32 = 1;

/// How the defender relates to the workload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Defender non-essential; the app starts once the binary is in place, console or not.
    #[default]
    Availability,
    /// Defender essential; the app waits until the defender has reached the console.
    Security,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Availability => "availability",
            Mode::Security => "security",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "availability" => Ok(Mode::Availability),
            "security" => Ok(Mode::Security),
            other => Err(format!(
                "unknown mode `{other}`: use availability or security"
            )),
        }
    }
}

/// Where the defender's console token comes from.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum TokenSource {
    /// Written into `environment`: readable by anyone with ecs:DescribeTaskDefinition.
    Plain(String),
    /// A Secrets Manager or SSM parameter ARN, injected through `secrets`.
    Secret(String),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Never print a token, even in debug output.
            TokenSource::Plain(_) => f.write_str("Plain(<redacted>)"),
            TokenSource::Secret(arn) => write!(f, "Secret({arn})"),
        }
    }
}

/// What the image runs when the task definition gives no `entryPoint`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageArgv {
    /// The image ENTRYPOINT; or, given as a bare array for a container without `command`, the
    /// whole argv the image runs (ENTRYPOINT + CMD).
    #[serde(rename = "entryPoint", default)]
    pub entry_point: Vec<String>,
    /// The image CMD, used only when the container has no `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

impl ImageArgv {
    /// Reads `["a","b"]` (an argv) or `{"entryPoint": [...], "command": [...]}`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_str(text.trim()).map_err(|error| format!("not JSON: {error}"))?;
        match value {
            Value::Array(_) => {
                let argv: Vec<String> = serde_json::from_value(value)
                    .map_err(|_| "the array must hold strings only".to_owned())?;
                Ok(ImageArgv {
                    entry_point: argv,
                    command: None,
                })
            }
            Value::Object(_) => serde_json::from_value(value).map_err(|error| {
                format!("expected {{\"entryPoint\": [...], \"command\": [...]}}: {error}")
            }),
            _ => Err(
                "expected a JSON array of strings, like [\"/docker-entrypoint.sh\", \"nginx\"]"
                    .to_owned(),
            ),
        }
    }
}

/// Everything the user chooses about a protection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProtectOptions {
    pub mode: Mode,
    pub console_url: Option<String>,
    pub token: Option<TokenSource>,
    /// Containers to protect even though they are skipped by default.
    pub include: Vec<String>,
    /// Containers to leave alone.
    pub exclude: Vec<String>,
    /// Image argv per container name, for containers without `entryPoint`.
    pub image_argv: BTreeMap<String, ImageArgv>,
    pub defender_image: Option<String>,
}

/// Whether and why a container is protected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPlan {
    pub name: String,
    pub protect: bool,
    /// Why it is skipped by default (FireLens, proxy), or why the user's choice applies.
    pub reason: Option<String>,
    /// It has no `entryPoint`: the image's argv must be given (true even when it was).
    pub needs_image_argv: bool,
    /// It has a `command`, so only the image ENTRYPOINT is needed (not CMD).
    pub has_command: bool,
    pub image: String,
}

/// A protected task definition with everything the user needs to review it.
#[derive(Clone, Debug, PartialEq)]
pub struct Protected {
    pub form: InputForm,
    pub family: Option<String>,
    /// normalize(input): the left side of the diff.
    pub normalized: Value,
    /// The result, in the input's form (an array for the container-list form).
    pub output: Value,
    pub summary: Summary,
    pub warnings: Vec<Warning>,
    pub plan: Vec<ContainerPlan>,
}

/// An unprotected task definition.
#[derive(Clone, Debug, PartialEq)]
pub struct Unprotected {
    pub form: InputForm,
    pub output: Value,
    /// False when the input carried no Palisade protection (the output is just normalized).
    pub was_protected: bool,
}

/// What protect found before it changed a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Origin {
    /// The key was not there.
    Absent,
    /// The key was an empty list.
    Empty,
    /// The key had a value, kept (and extended) by protect.
    Present,
}

fn origin_of(value: Option<&Value>) -> Origin {
    match value {
        None => Origin::Absent,
        Some(Value::Array(items)) if items.is_empty() => Origin::Empty,
        Some(_) => Origin::Present,
    }
}

/// Restores a key to what it was before protect; `restored` is its value when it was present.
fn restore_key(
    container: &mut Map<String, Value>,
    key: &str,
    origin: Origin,
    restored: Option<Value>,
) {
    match origin {
        Origin::Absent => {
            container.shift_remove(key);
        }
        Origin::Empty => {
            container.insert(key.to_owned(), Value::Array(Vec::new()));
        }
        Origin::Present => {
            if let Some(value) = restored {
                container.insert(key.to_owned(), value);
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerRecord {
    entry_point: Origin,
    /// Set when protect wrote the image CMD into `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<Origin>,
    mount_points: Origin,
    depends_on: Origin,
}

/// The label protect leaves on the defender: enough to undo exactly what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProtectionRecord {
    v: u32,
    /// Absent for the container-list form, where protect cannot touch task-level keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid_mode: Option<Origin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    volumes: Option<Origin>,
    containers: BTreeMap<String, ContainerRecord>,
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    value.and_then(Value::as_array).map(|items| {
        items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect()
    })
}

fn non_empty(value: Option<&Value>) -> Option<Vec<String>> {
    strings(value).filter(|items| !items.is_empty())
}

fn container_name(container: &Value) -> &str {
    container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Parses, normalizes, validates and protects pasted text.
pub fn protect_text(text: &str, options: &ProtectOptions) -> Result<Protected, Rejected> {
    let normalized = normalize(parse(text)?);
    let form = normalized.form;
    protect_owned(normalized, options).map_err(|mut rejected| {
        locate_problems(text, form, &mut rejected);
        rejected
    })
}

/// Adds line and column (in the pasted text) to problems that only have a pointer.
pub fn locate_problems(text: &str, form: InputForm, rejected: &mut Rejected) {
    for problem in &mut rejected.problems {
        if problem.line.is_some() {
            continue;
        }
        let Some(pointer) = &problem.pointer else {
            continue;
        };
        let in_text = match form {
            InputForm::DescribeOutput => format!("/taskDefinition{pointer}"),
            InputForm::ContainerDefinitions => pointer
                .strip_prefix("/containerDefinitions")
                .unwrap_or(pointer)
                .to_owned(),
            InputForm::TaskDefinition => pointer.clone(),
        };
        if let Some((line, column)) = crate::parse::locate(text, &in_text) {
            problem.line = Some(line);
            problem.column = Some(column);
        }
    }
}

/// Protects a normalized document.
pub fn protect_normalized(
    normalized: &Normalized,
    options: &ProtectOptions,
) -> Result<Protected, Rejected> {
    protect_owned(normalized.clone(), options)
}

/// Protects a normalized document it owns: the documents are moved, not copied, where they can
/// be (copies of a big task definition are most of the cost).
fn protect_owned(normalized: Normalized, options: &ProtectOptions) -> Result<Protected, Rejected> {
    let Normalized {
        form,
        task,
        removed,
        renamed,
        tags_moved,
    } = normalized;
    let mut summary = Summary {
        removed_keys: removed,
        renamed_keys: renamed,
        tags_moved,
        ..Summary::default()
    };
    let mut warnings = Vec::new();

    // A protected input is unprotected first: the result is then the same as protecting the
    // original, and an older protection is upgraded in place. `input` keeps the protected input
    // (the left side of the diff) only in that case; otherwise the base is the input.
    let (base, recovered, input) = match unprotect_task(&task)? {
        Some((base, recovered)) => {
            summary.replaced_protection = true;
            (base, recovered, Some(task))
        }
        None => (task, BTreeMap::new(), None),
    };
    let base = Value::Object(base);
    let problems = validate_document(form, &base);
    if !problems.is_empty() {
        return Err(Rejected { problems });
    }
    let Value::Object(base) = base else {
        unreachable!("built as an object just above")
    };
    if let Some(problem) = windows_evidence(&base) {
        return Err(Rejected::one(problem));
    }

    let plan = plan_containers(&base, options)?;
    let mut output = base.clone();
    let mut record = ProtectionRecord {
        v: RECORD_VERSION,
        pid_mode: None,
        volumes: None,
        containers: BTreeMap::new(),
    };
    let mut missing = Vec::new();

    let containers = match output.get_mut("containerDefinitions") {
        Some(Value::Array(containers)) => containers,
        _ => unreachable!("validated: containerDefinitions is a non-empty array"),
    };
    for (index, (container, plan)) in containers.iter_mut().zip(&plan).enumerate() {
        if !plan.protect {
            summary.skipped.push(SkippedContainer {
                container: plan.name.clone(),
                reason: plan.reason.clone().unwrap_or_else(|| "excluded".to_owned()),
            });
            continue;
        }
        let Value::Object(container) = container else {
            unreachable!("validated: containers are objects")
        };
        let given = options
            .image_argv
            .get(&plan.name)
            .map(|argv| (argv, ArgvSource::GivenByUser));
        let image_argv = given.or_else(|| {
            recovered
                .get(&plan.name)
                .map(|argv| (argv, ArgvSource::EarlierProtection))
        });
        match wrap_container(container, image_argv) {
            Ok((container_record, wrapped)) => {
                record
                    .containers
                    .insert(plan.name.clone(), container_record);
                summary.wrapped.push(wrapped);
            }
            Err(reason) => missing.push(missing_argv_problem(index, plan, reason)),
        }
    }
    if !missing.is_empty() {
        return Err(Rejected { problems: missing });
    }
    if record.containers.is_empty() {
        return Err(Rejected::one(
            Problem::at(
                ProblemKind::Options,
                "/containerDefinitions",
                "no container is left to protect",
            )
            .with_hint("include at least one container"),
        ));
    }

    if form != InputForm::ContainerDefinitions {
        record.pid_mode = Some(origin_of(output.get("pidMode")));
        if !output.contains_key("pidMode") {
            output.insert("pidMode".into(), json!("task"));
            summary.task_changes.push(
                "set pidMode to \"task\" so the defender sees every process of the task".into(),
            );
        }
        record.volumes = Some(origin_of(output.get("volumes")));
        let volumes = output
            .entry("volumes")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(volumes) = volumes {
            volumes.push(json!({ "name": VOLUME }));
        }
        summary.task_changes.push(format!(
            "added task volume {VOLUME} (the defender copies its binary there)"
        ));
    }
    warnings.extend(container_list_note(form));

    let first_log_configuration = plan
        .iter()
        .zip(array_items(base.get("containerDefinitions")))
        .find(|(plan, _)| plan.protect)
        .and_then(|(_, container)| container.get("logConfiguration").cloned());
    let defender = defender_container(
        options,
        &record,
        first_log_configuration,
        &base,
        &mut warnings,
    );
    if let Some(Value::Array(containers)) = output.get_mut("containerDefinitions") {
        containers.push(defender);
    }
    summary.added_container = Some(format!(
        "{DEFENDER_CONTAINER} ({} mode)",
        options.mode.as_str()
    ));

    // The input passed the schema and protect only adds schema-valid structures, so the
    // service's rules (container count, size, references, memory) are what is left to check.
    let problems = crate::validate::service_rule_problems(form, &output);
    if !problems.is_empty() {
        return Err(Rejected {
            problems: problems
                .into_iter()
                .map(|mut problem| {
                    problem.message = format!("after protection: {}", problem.message);
                    problem
                })
                .collect(),
        });
    }
    for (key, value) in base
        .iter()
        .filter(|(key, _)| !FREE_TEXT_KEYS.contains(&key.as_str()))
    {
        placeholder_warnings(value, &Path::Root.key(key), &mut warnings);
    }

    Ok(Protected {
        form,
        family: base
            .get("family")
            .and_then(Value::as_str)
            .map(str::to_owned),
        normalized: into_document(form, input.unwrap_or(base)),
        output: into_document(form, output),
        summary,
        warnings,
        plan,
    })
}

/// Decides which containers are protected, checking the user's include/exclude names.
pub fn plan_containers(
    task: &Map<String, Value>,
    options: &ProtectOptions,
) -> Result<Vec<ContainerPlan>, Rejected> {
    let containers = task
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let names: Vec<&str> = containers.iter().map(container_name).collect();
    let mut problems = Vec::new();
    for (option, listed) in [
        ("--include", &options.include),
        ("--exclude", &options.exclude),
    ] {
        for name in listed {
            if !names.contains(&name.as_str()) {
                problems.push(
                    Problem::at(
                        ProblemKind::Options,
                        "/containerDefinitions",
                        format!("{option} names `{name}`, which is not a container of this task"),
                    )
                    .with_hint(format!("containers: {}", names.join(", "))),
                );
            }
        }
    }
    for name in options.image_argv.keys() {
        if !names.contains(&name.as_str()) {
            problems.push(
                Problem::at(ProblemKind::Options, "/containerDefinitions", format!("an entrypoint is given for `{name}`, which is not a container of this task"))
                    .with_hint(format!("containers: {}", names.join(", "))),
            );
        }
    }
    if names.contains(&DEFENDER_CONTAINER) {
        problems.push(
            Problem::at(ProblemKind::Options, "/containerDefinitions", format!("a container is already named `{DEFENDER_CONTAINER}` but carries no Palisade protection record"))
                .with_hint("rename that container, or remove it if it is a hand-edited copy of Palisade's"),
        );
    }
    let volume_taken = task
        .get("volumes")
        .and_then(Value::as_array)
        .is_some_and(|volumes| {
            volumes
                .iter()
                .any(|v| v.get("name").and_then(Value::as_str) == Some(VOLUME))
        });
    if volume_taken {
        problems.push(
            Problem::at(
                ProblemKind::Options,
                "/volumes",
                format!("a volume is already named `{VOLUME}`"),
            )
            .with_hint("rename that volume: Palisade needs the name"),
        );
    }
    if !problems.is_empty() {
        return Err(Rejected { problems });
    }

    let proxy = task
        .get("proxyConfiguration")
        .and_then(|p| p.get("containerName"))
        .and_then(Value::as_str);
    Ok(containers
        .iter()
        .map(|container| {
            let name = container_name(container).to_owned();
            let default_skip = if container.get("firelensConfiguration").is_some() {
                Some(
                    "FireLens log router (it must start before the workloads it logs for)"
                        .to_owned(),
                )
            } else if proxy == Some(name.as_str()) {
                Some("named in proxyConfiguration (the service-mesh proxy)".to_owned())
            } else {
                None
            };
            let (protect, reason) = if options.exclude.contains(&name) {
                (false, Some("excluded by you".to_owned()))
            } else if options.include.contains(&name) {
                (
                    true,
                    default_skip.map(|why| format!("included by you (skipped by default: {why})")),
                )
            } else {
                (default_skip.is_none(), default_skip)
            };
            let has_entry_point = non_empty(container.get("entryPoint")).is_some();
            ContainerPlan {
                needs_image_argv: !has_entry_point,
                has_command: non_empty(container.get("command")).is_some(),
                image: container
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                protect,
                reason,
                name,
            }
        })
        .collect())
}

/// Why a container could not be wrapped.
enum WrapError {
    /// No entryPoint and no image argv given.
    NeedsImageArgv,
    /// The argv would be empty: nothing to run.
    EmptyArgv,
}

/// Wraps one container's argv; `image_argv` is needed when it has no `entryPoint`.
fn wrap_container(
    container: &mut Map<String, Value>,
    image_argv: Option<(&ImageArgv, ArgvSource)>,
) -> Result<(ContainerRecord, WrappedContainer), WrapError> {
    let name = container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let entry_point_origin = origin_of(container.get("entryPoint"));
    let own_entry_point = non_empty(container.get("entryPoint"));
    let own_command = non_empty(container.get("command"));
    let mut command_record = None;
    let mut command_added = None;

    // Docker: an entryPoint in the task definition replaces the image's ENTRYPOINT and discards
    // its CMD unless `command` is set; without one, the image's ENTRYPOINT (and CMD, when the task
    // has no command either) is what runs.
    let (argv_head, source) = match (&own_entry_point, image_argv) {
        (Some(entry_point), _) => (entry_point.clone(), ArgvSource::TaskDefinition),
        (None, Some((given, source))) => {
            if own_command.is_none() {
                if let Some(cmd) = given.command.as_ref().filter(|cmd| !cmd.is_empty()) {
                    command_record = Some(origin_of(container.get("command")));
                    command_added = Some(cmd.clone());
                }
            }
            (given.entry_point.clone(), source)
        }
        (None, None) => return Err(WrapError::NeedsImageArgv),
    };
    if argv_head.is_empty() && own_command.is_none() && command_added.is_none() {
        return Err(WrapError::EmptyArgv);
    }

    let wrapped: Vec<String> = WRAPPER_PREFIX
        .iter()
        .map(|s| (*s).to_owned())
        .chain(argv_head)
        .collect();
    container.insert("entryPoint".into(), json!(wrapped));
    if let Some(cmd) = &command_added {
        container.insert("command".into(), json!(cmd));
    }
    let mount_points = origin_of(container.get("mountPoints"));
    append(
        container,
        "mountPoints",
        json!({ "sourceVolume": VOLUME, "containerPath": MOUNT_PATH, "readOnly": true }),
    );
    let depends_on = origin_of(container.get("dependsOn"));
    append(
        container,
        "dependsOn",
        json!({ "containerName": DEFENDER_CONTAINER, "condition": "HEALTHY" }),
    );

    Ok((
        ContainerRecord {
            entry_point: entry_point_origin,
            command: command_record,
            mount_points,
            depends_on,
        },
        WrappedContainer {
            container: name,
            before: own_entry_point,
            after: wrapped,
            command_added,
            source,
        },
    ))
}

fn append(container: &mut Map<String, Value>, key: &str, item: Value) {
    match container
        .entry(key)
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(items) => items.push(item),
        other => *other = Value::Array(vec![item]),
    }
}

fn missing_argv_problem(index: usize, plan: &ContainerPlan, reason: WrapError) -> Problem {
    let pointer = format!("/containerDefinitions/{index}");
    match reason {
        WrapError::EmptyArgv => Problem::at(
            ProblemKind::MissingEntrypoint,
            pointer,
            format!("container `{}` would run an empty argv", plan.name),
        )
        .with_hint("give the image's ENTRYPOINT and CMD as a non-empty array"),
        WrapError::NeedsImageArgv => {
            let (what, example) = if plan.has_command {
                (
                    "its image's ENTRYPOINT (its `command` is kept)",
                    "[\"/entrypoint.sh\"]",
                )
            } else {
                (
                    "what its image runs: ENTRYPOINT followed by CMD",
                    "[\"/entrypoint.sh\", \"serve\"]",
                )
            };
            Problem::at(
                ProblemKind::MissingEntrypoint,
                pointer,
                format!("container `{}` has no entryPoint, so it runs what image `{}` sets, which Palisade does not know", plan.name, plan.image),
            )
            .with_hint(format!(
                "give {what}, as `docker inspect --format '{{{{json .Config.Entrypoint}}}} {{{{json .Config.Cmd}}}}' {}` shows it: \
                 --entrypoint '{}={example}' on the command line or the entrypoint field for `{}` in the console (or --exclude {} to leave it unprotected)",
                plan.image, plan.name, plan.name, plan.name
            ))
        }
    }
}

fn defender_container(
    options: &ProtectOptions,
    record: &ProtectionRecord,
    log_configuration: Option<Value>,
    task: &Map<String, Value>,
    warnings: &mut Vec<Warning>,
) -> Value {
    let defender_pointer = "/containerDefinitions/-".to_owned();
    let mut environment = vec![json!({ "name": "PALISADE_MODE", "value": options.mode.as_str() })];
    match options.console_url.as_deref().filter(|url| !url.trim().is_empty()) {
        Some(url) => environment.push(json!({ "name": "PALISADE_CONSOLE_URL", "value": url.trim() })),
        None => warnings.push(Warning {
            pointer: Some(defender_pointer.clone()),
            message: "no console URL: the defender will protect but not report; give --console-url (the URL defenders dial)".into(),
        }),
    }
    let mut secrets = Vec::new();
    match &options.token {
        Some(TokenSource::Plain(token)) => {
            environment.push(json!({ "name": "PALISADE_TOKEN", "value": token }));
            warnings.push(Warning {
                pointer: Some(defender_pointer.clone()),
                message: "the defender token is in plain `environment`: anyone with ecs:DescribeTaskDefinition can read it; \
                          store it in Secrets Manager or SSM and use --token-secret ARN"
                    .into(),
            });
        }
        Some(TokenSource::Secret(arn)) => {
            secrets.push(json!({ "name": "PALISADE_TOKEN", "valueFrom": arn }));
            if !task.contains_key("executionRoleArn") && task.contains_key("family") {
                warnings.push(Warning {
                    pointer: Some("/executionRoleArn".into()),
                    message: "the token is a secret, but the task has no executionRoleArn: ECS needs one (allowed to read the secret) to start the task".into(),
                });
            }
        }
        None => warnings.push(Warning {
            pointer: Some(defender_pointer),
            message: "no token: the console will refuse this defender; give --token-secret ARN (or --token)".into(),
        }),
    }
    let record_text = serde_json::to_string(record).unwrap_or_default();
    let mut defender = json!({
        "name": DEFENDER_CONTAINER,
        "image": options.defender_image.as_deref().filter(|image| !image.trim().is_empty()).unwrap_or(DEFAULT_DEFENDER_IMAGE),
        "essential": options.mode == Mode::Security,
        "entryPoint": ["/palisade-defender", "run"],
        "environment": environment,
        "mountPoints": [{ "sourceVolume": VOLUME, "containerPath": MOUNT_PATH, "readOnly": false }],
        "linuxParameters": { "capabilities": { "add": ["SYS_PTRACE"] } },
        "healthCheck": {
            "command": ["CMD", "/palisade-defender", "health"],
            "interval": 5,
            "timeout": 2,
            "retries": 3,
            "startPeriod": 10
        },
        "dockerLabels": { PROTECTION_LABEL: record_text },
    });
    if !secrets.is_empty() {
        defender["secrets"] = Value::Array(secrets);
    }
    if !task.contains_key("memory") {
        // Without task-level memory ECS needs a per-container figure; with it, the defender
        // shares the task's memory and never pushes the containers' sum past it.
        defender["memoryReservation"] = json!(DEFENDER_MEMORY_RESERVATION_MIB);
    }
    if let Some(log_configuration) = log_configuration {
        // The defender's own logs go where the first workload's go.
        defender["logConfiguration"] = log_configuration;
    }
    defender
}

/// Windows tasks cannot be protected: no pidMode, no Linux /proc. Returns the first evidence.
fn windows_evidence(task: &Map<String, Value>) -> Option<Problem> {
    let refuse = |pointer: String, why: String| {
        Some(
            Problem::at(ProblemKind::Windows, pointer, format!("this is a Windows task definition ({why}); Palisade protects Linux tasks only"))
                .with_hint("protect the Linux tasks of this service; Windows containers have no task pidMode for the defender to use"),
        )
    };
    if let Some(family) = task
        .get("runtimePlatform")
        .and_then(|p| p.get("operatingSystemFamily"))
        .and_then(Value::as_str)
    {
        if family.to_ascii_uppercase().starts_with("WINDOWS") {
            return refuse(
                "/runtimePlatform/operatingSystemFamily".into(),
                format!("operatingSystemFamily {family}"),
            );
        }
    }
    for (index, container) in array_items(task.get("containerDefinitions")).enumerate() {
        for key in ["entryPoint", "command"] {
            if let Some(first) =
                strings(container.get(key)).and_then(|argv| argv.into_iter().next())
            {
                let program = first.to_ascii_lowercase();
                let program = program.rsplit(['\\', '/']).next().unwrap_or_default();
                if ["powershell", "powershell.exe", "pwsh.exe", "cmd.exe"].contains(&program) {
                    return refuse(
                        format!("/containerDefinitions/{index}/{key}/0"),
                        format!("it runs {first}"),
                    );
                }
            }
        }
        for option in strings(container.get("dockerSecurityOptions")).unwrap_or_default() {
            if option.starts_with("credentialspec:") {
                return refuse(
                    format!("/containerDefinitions/{index}/dockerSecurityOptions"),
                    "a gMSA credentialspec".into(),
                );
            }
        }
    }
    for (index, volume) in array_items(task.get("volumes")).enumerate() {
        if let Some(path) = volume.pointer("/host/sourcePath").and_then(Value::as_str) {
            let drive =
                path.len() >= 3 && path.as_bytes()[0].is_ascii_alphabetic() && &path[1..3] == ":\\";
            if drive || path.starts_with("\\\\") {
                return refuse(
                    format!("/volumes/{index}/host/sourcePath"),
                    format!("host path {path}"),
                );
            }
        }
    }
    None
}

/// Keys whose strings are shell or user text, where `${X}` or `<b>` is legitimate.
const FREE_TEXT_KEYS: [&str; 6] = [
    "command",
    "entryPoint",
    "healthCheck",
    "environment",
    "dockerLabels",
    "options",
];

/// Warns about template syntax left in the task's strings (images, names, ARNs...).
fn placeholder_warnings(value: &Value, path: &Path<'_>, warnings: &mut Vec<Warning>) {
    match value {
        Value::String(text) if looks_like_placeholder(text) => warnings.push(Warning {
            pointer: Some(path.render()),
            message: format!("`{text}` looks like an unrendered template placeholder: render it before registering"),
        }),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                placeholder_warnings(item, &path.index(index), warnings);
            }
        }
        Value::Object(object) => {
            for (key, item) in object.iter().filter(|(key, _)| !FREE_TEXT_KEYS.contains(&key.as_str())) {
                placeholder_warnings(item, &path.key(key), warnings);
            }
        }
        _ => {}
    }
}

/// An unprotected task and the image argv recovered per container.
type Unwrapped = (Map<String, Value>, BTreeMap<String, ImageArgv>);

/// Removes a Palisade protection from a task map. `None` when there is none; otherwise the
/// original task and, per container whose argv came from its image, that argv (so protecting
/// again needs no `--entrypoint`).
fn unprotect_task(task: &Map<String, Value>) -> Result<Option<Unwrapped>, Rejected> {
    let Some(containers) = task.get("containerDefinitions").and_then(Value::as_array) else {
        return Ok(None);
    };
    let Some(defender_index) = containers
        .iter()
        .position(|c| container_name(c) == DEFENDER_CONTAINER)
    else {
        return Ok(None);
    };
    let label = containers[defender_index]
        .pointer(&pointer_push("/dockerLabels", PROTECTION_LABEL))
        .and_then(Value::as_str);
    let Some(record) = label.and_then(|text| serde_json::from_str::<ProtectionRecord>(text).ok())
    else {
        // A container of that name without our record is not ours: plan_containers reports it.
        return Ok(None);
    };
    if record.v > RECORD_VERSION {
        return Err(Rejected::one(
            Problem::at(
                ProblemKind::Options,
                format!("/containerDefinitions/{defender_index}/dockerLabels"),
                format!(
                    "this task was protected by a newer Palisade (record version {})",
                    record.v
                ),
            )
            .with_hint("use that Palisade version or newer"),
        ));
    }

    let mut task = task.clone();
    let mut recovered = BTreeMap::new();
    if let Some(Value::Array(containers)) = task.get_mut("containerDefinitions") {
        containers.remove(defender_index);
        for container in containers.iter_mut() {
            let Value::Object(container) = container else {
                continue;
            };
            let name = container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let Some(entry) = record.containers.get(&name) else {
                continue;
            };
            let wrapped = strings(container.get("entryPoint")).unwrap_or_default();
            let original: Vec<String> =
                match wrapped.strip_prefix(&WRAPPER_PREFIX.map(str::to_owned)[..]) {
                    Some(rest) => rest.to_vec(),
                    None => wrapped,
                };
            if entry.entry_point != Origin::Present {
                let command = entry
                    .command
                    .and_then(|_| strings(container.get("command")));
                recovered.insert(
                    name.clone(),
                    ImageArgv {
                        entry_point: original.clone(),
                        command,
                    },
                );
            }
            restore_key(
                container,
                "entryPoint",
                entry.entry_point,
                Some(json!(original)),
            );
            if let Some(origin) = entry.command {
                restore_key(container, "command", origin, None);
            }
            remove_items(container, "mountPoints", entry.mount_points, |item| {
                item.get("sourceVolume").and_then(Value::as_str) == Some(VOLUME)
            });
            remove_items(container, "dependsOn", entry.depends_on, |item| {
                item.get("containerName").and_then(Value::as_str) == Some(DEFENDER_CONTAINER)
            });
        }
    }
    if record.pid_mode == Some(Origin::Absent) {
        task.shift_remove("pidMode");
    }
    if let Some(origin) = record.volumes {
        remove_items(&mut task, "volumes", origin, |item| {
            item.get("name").and_then(Value::as_str) == Some(VOLUME)
        });
    }
    Ok(Some((task, recovered)))
}

/// Removes protect's items from a list, and the list itself when protect created it.
fn remove_items(
    object: &mut Map<String, Value>,
    key: &str,
    origin: Origin,
    ours: impl Fn(&Value) -> bool,
) {
    if let Some(Value::Array(items)) = object.get_mut(key) {
        items.retain(|item| !ours(item));
        if items.is_empty() && origin == Origin::Absent {
            object.shift_remove(key);
        }
    }
}

/// Which containers would be protected, for the options bar, even when protecting fails (a
/// missing entrypoint is exactly when the user needs to see the plan).
pub fn plan_text(text: &str, options: &ProtectOptions) -> Result<Vec<ContainerPlan>, Rejected> {
    let normalized = normalize(parse(text)?);
    let base = match unprotect_task(&normalized.task)? {
        Some((base, _)) => base,
        None => normalized.task,
    };
    if !base
        .get("containerDefinitions")
        .is_some_and(Value::is_array)
    {
        return Ok(Vec::new());
    }
    plan_containers(&base, options)
}

/// Parses, normalizes and removes a Palisade protection.
pub fn unprotect_text(text: &str) -> Result<Unprotected, Rejected> {
    let normalized = normalize(parse(text)?);
    let (task, was_protected) = match unprotect_task(&normalized.task)? {
        Some((task, _)) => (task, true),
        None => (normalized.task.clone(), false),
    };
    Ok(Unprotected {
        form: normalized.form,
        output: document_of(normalized.form, &task),
        was_protected,
    })
}

/// `summary.lines()` plus the wrapped argv, for `--summary` and logs.
pub fn describe(protected: &Protected) -> String {
    let mut text = protected.summary.lines().join("\n");
    for warning in &protected.warnings {
        text.push_str(&format!("\nwarning: {warning}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::to_pretty;

    const FARGATE: &str = r#"{
        "family": "billing",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {"name": "api", "image": "billing:1", "entryPoint": ["/app/api"], "command": ["--port", "80"]},
            {"name": "worker", "image": "billing:1", "command": ["worker"]},
            {"name": "log_router", "image": "fluent-bit", "essential": false, "firelensConfiguration": {"type": "fluentbit"}}
        ]
    }"#;

    fn options() -> ProtectOptions {
        let mut options = ProtectOptions {
            console_url: Some("https://palisade.example".into()),
            token: Some(TokenSource::Secret(
                "arn:aws:secretsmanager:eu-west-1:1:secret:t".into(),
            )),
            ..ProtectOptions::default()
        };
        options.image_argv.insert(
            "worker".into(),
            ImageArgv {
                entry_point: vec!["/entry".into()],
                command: None,
            },
        );
        options
    }

    #[test]
    fn protect_wraps_entrypoints_and_adds_the_defender() {
        let protected = protect_text(FARGATE, &options()).unwrap();
        let containers = protected.output["containerDefinitions"].as_array().unwrap();
        assert_eq!(
            containers[0]["entryPoint"],
            json!(["/palisade/palisade-defender", "exec", "--", "/app/api"])
        );
        assert_eq!(containers[0]["command"], json!(["--port", "80"]));
        assert_eq!(
            containers[1]["entryPoint"],
            json!(["/palisade/palisade-defender", "exec", "--", "/entry"])
        );
        assert!(
            containers[2].get("entryPoint").is_none(),
            "the FireLens router is skipped"
        );
        assert_eq!(containers[3]["name"], DEFENDER_CONTAINER);
        assert_eq!(containers[3]["essential"], false);
        assert_eq!(containers[3]["secrets"][0]["name"], "PALISADE_TOKEN");
        assert_eq!(protected.output["pidMode"], "task");
        assert_eq!(protected.output["volumes"], json!([{"name": "palisade"}]));
        assert!(containers[0]["dependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["condition"] == "HEALTHY"));
        assert_eq!(protected.summary.skipped[0].container, "log_router");
    }

    #[test]
    fn protecting_twice_changes_nothing() {
        let once = protect_text(FARGATE, &options()).unwrap();
        let twice = protect_text(&to_pretty(&once.output), &options()).unwrap();
        assert_eq!(once.output, twice.output);
        assert!(twice.summary.replaced_protection);
    }

    #[test]
    fn protecting_a_protected_task_needs_no_entrypoint_again() {
        let once = protect_text(FARGATE, &options()).unwrap();
        let mut fewer = options();
        fewer.image_argv.clear();
        assert_eq!(
            protect_text(&to_pretty(&once.output), &fewer)
                .unwrap()
                .output,
            once.output
        );
    }

    #[test]
    fn unprotect_is_the_exact_inverse() {
        let protected = protect_text(FARGATE, &options()).unwrap();
        let unprotected = unprotect_text(&to_pretty(&protected.output)).unwrap();
        assert!(unprotected.was_protected);
        assert_eq!(unprotected.output, protected.normalized);
        assert_eq!(
            to_pretty(&unprotected.output),
            to_pretty(&protected.normalized),
            "key order too"
        );
    }

    #[test]
    fn a_container_without_entrypoint_is_never_guessed() {
        let rejected = protect_text(FARGATE, &ProtectOptions::default()).unwrap_err();
        assert_eq!(rejected.problems.len(), 1);
        let problem = &rejected.problems[0];
        assert_eq!(problem.kind, ProblemKind::MissingEntrypoint);
        assert_eq!(problem.pointer.as_deref(), Some("/containerDefinitions/1"));
        assert!(problem.message.contains("worker"));
        assert!(problem
            .hint
            .as_deref()
            .unwrap()
            .contains("--entrypoint 'worker="));
        assert!(problem.line.is_some(), "located in the pasted text");
    }

    #[test]
    fn image_cmd_is_written_when_the_container_has_no_command() {
        let text = r#"{"family":"f","containerDefinitions":[{"name":"web","image":"nginx","memory":128}]}"#;
        let mut options = options();
        options.image_argv.clear();
        options.image_argv.insert(
            "web".into(),
            ImageArgv {
                entry_point: vec!["/docker-entrypoint.sh".into()],
                command: Some(vec!["nginx".into(), "-g".into(), "daemon off;".into()]),
            },
        );
        let protected = protect_text(text, &options).unwrap();
        let web = &protected.output["containerDefinitions"][0];
        assert_eq!(web["command"], json!(["nginx", "-g", "daemon off;"]));
        let back = unprotect_text(&to_pretty(&protected.output)).unwrap();
        assert_eq!(
            back.output, protected.normalized,
            "no entryPoint or command where there was none"
        );
    }

    #[test]
    fn excluded_and_included_containers_follow_the_options() {
        let mut options = options();
        options.exclude.push("worker".into());
        options.include.push("log_router".into());
        options.image_argv.insert(
            "log_router".into(),
            ImageArgv {
                entry_point: vec!["/fluent-bit/bin/fluent-bit".into()],
                command: None,
            },
        );
        let protected = protect_text(FARGATE, &options).unwrap();
        let containers = protected.output["containerDefinitions"].as_array().unwrap();
        assert!(containers[1].get("entryPoint").is_none());
        assert!(containers[2]["entryPoint"][0] == "/palisade/palisade-defender");
    }

    #[test]
    fn unknown_container_names_in_options_are_refused() {
        let mut options = options();
        options.exclude.push("nope".into());
        assert!(protect_text(FARGATE, &options)
            .unwrap_err()
            .has(ProblemKind::Options));
    }

    #[test]
    fn windows_tasks_are_refused() {
        let text = r#"{"family":"w","runtimePlatform":{"operatingSystemFamily":"WINDOWS_SERVER_2019_CORE"},"containerDefinitions":[{"name":"a","image":"mcr.microsoft.com/windows","entryPoint":["powershell"],"memory":512}]}"#;
        assert!(protect_text(text, &options())
            .unwrap_err()
            .has(ProblemKind::Windows));
    }

    #[test]
    fn a_plain_token_warns_about_describe_access() {
        let mut options = options();
        options.token = Some(TokenSource::Plain("s3cret".into()));
        let protected = protect_text(FARGATE, &options).unwrap();
        assert!(protected
            .warnings
            .iter()
            .any(|w| w.message.contains("ecs:DescribeTaskDefinition")));
        assert!(
            !format!("{options:?}").contains("s3cret"),
            "tokens stay out of Debug"
        );
    }

    #[test]
    fn a_container_list_comes_back_as_a_list() {
        let text = r#"[{"name":"a","image":"x","entryPoint":["/a"]}]"#;
        let mut options = options();
        options.image_argv.clear();
        let protected = protect_text(text, &options).unwrap();
        assert!(protected.output.is_array());
        assert_eq!(protected.output.as_array().unwrap().len(), 2);
        assert!(protected
            .warnings
            .iter()
            .any(|w| w.message.contains("pidMode")));
        assert_eq!(
            unprotect_text(&to_pretty(&protected.output))
                .unwrap()
                .output,
            protected.normalized
        );
    }

    #[test]
    fn ten_containers_leave_no_room_for_the_defender() {
        let containers: Vec<Value> = (0..10).map(|i| json!({"name": format!("c{i}"), "image": "x", "entryPoint": ["/x"], "memory": 64})).collect();
        let text = json!({"family": "f", "containerDefinitions": containers}).to_string();
        let mut options = options();
        options.image_argv.clear();
        let rejected = protect_text(&text, &options).unwrap_err();
        assert!(rejected.has(ProblemKind::Limit), "{rejected}");
        assert!(rejected.problems[0].message.starts_with("after protection"));
    }
}
