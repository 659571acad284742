//! Protect and unprotect. Protect adds the `palisade-defender` container, a `palisade` task
//! volume, `pidMode: "task"`, and wraps each protected container's argv with
//! `/palisade/palisade-defender exec --`. What it found before it changed anything is written into
//! a label on the defender container, so unprotect is the exact inverse and protecting a protected
//! task replaces the old protection instead of wrapping twice.
//!
//! Here: the whole of protect and unprotect, step by step. Beside it: the options (`options`),
//! which containers are wrapped (`plan`), wrapping one container (`wrap`), the defender container
//! (`defender`), the protection record and undoing it (`record`), and the checks that refuse or
//! warn about a task (`checks`).

mod checks;
mod options;
mod plan;
mod profile;
mod record;
mod wrap;

pub use options::{ImageArgv, Mode, ProtectOptions, TokenSource};
pub use plan::{plan_containers, plan_text, valid_plan_text, ContainerPlan};
pub use profile::{
    collector_parts, DatadogCws, Profile, ProfileName, SysdigServerless, DATADOG_AGENT_IMAGE,
    DATADOG_CWS_IMAGE, DATADOG_SITE, DEFAULT_DEFENDER_IMAGE, DEFENDER_MEMORY_RESERVATION_MIB,
    NO_DEFENDER_IMAGE, SYSDIG_IMAGE,
};

use crate::array_items;
use crate::cancel::Cancel;
use crate::normalize::{document_of, into_document, normalize, Normalized};
use crate::parse::{parse, InputForm};
use crate::problem::{cap_problems, Problem, ProblemKind, Rejected};
use crate::summary::{container_list_note, ArgvSource, SkippedContainer, Summary, Warning};
use crate::validate::{validate_document, MAX_CONTAINERS};
use crate::Path;
use checks::{placeholder_warnings, windows_evidence, FREE_TEXT_KEYS};
use profile::Sidecars;
use record::{origin_of, unprotect_task, ProtectionRecord, PROFILE_RECORD_VERSION, RECORD_VERSION};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use wrap::{missing_argv_problem, unwrappable, wrap_container};

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

pub(super) fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    value.and_then(Value::as_array).map(|items| {
        items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect()
    })
}

pub(super) fn non_empty(value: Option<&Value>) -> Option<Vec<String>> {
    strings(value).filter(|items| !items.is_empty())
}

pub(super) fn container_name(container: &Value) -> &str {
    container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Parses, normalizes, validates and protects pasted text.
pub fn protect_text(text: &str, options: &ProtectOptions) -> Result<Protected, Rejected> {
    protect_text_cancellable(text, options, &Cancel::never())
}

/// [`protect_text`], stopped with a [`ProblemKind::Cancelled`] problem at its next step once
/// `cancel` is raised.
pub fn protect_text_cancellable(
    text: &str,
    options: &ProtectOptions,
    cancel: &Cancel,
) -> Result<Protected, Rejected> {
    cancel.check()?;
    let normalized = normalize(parse(text)?);
    let form = normalized.form;
    protect_owned(normalized, options, &|_| false, cancel).map_err(|mut rejected| {
        locate_problems(text, form, &mut rejected);
        rejected
    })
}

/// Adds line and column (in the pasted text) to problems that only have a pointer, all in one
/// pass over the text.
pub fn locate_problems(text: &str, form: InputForm, rejected: &mut Rejected) {
    let unplaced: Vec<(usize, String)> = rejected
        .problems
        .iter()
        .enumerate()
        .filter(|(_, problem)| problem.line.is_none())
        .filter_map(|(index, problem)| {
            let pointer = problem.pointer.as_deref()?;
            let in_text = match form {
                InputForm::DescribeOutput => format!("/taskDefinition{pointer}"),
                InputForm::ContainerDefinitions => pointer
                    .strip_prefix("/containerDefinitions")
                    .unwrap_or(pointer)
                    .to_owned(),
                InputForm::TaskDefinition => pointer.to_owned(),
            };
            Some((index, in_text))
        })
        .collect();
    let pointers: Vec<&str> = unplaced
        .iter()
        .map(|(_, pointer)| pointer.as_str())
        .collect();
    let places = crate::parse::locate_all(text, &pointers);
    for ((index, _), place) in unplaced.iter().zip(places) {
        if let Some((line, column)) = place {
            rejected.problems[*index].line = Some(line);
            rejected.problems[*index].column = Some(column);
        }
    }
}

/// Protects a normalized document.
pub fn protect_normalized(
    normalized: &Normalized,
    options: &ProtectOptions,
) -> Result<Protected, Rejected> {
    protect_owned(normalized.clone(), options, &|_| false, &Cancel::never())
}

/// Protects a task definition in which the leaves `is_unknown` says yes to (by their JSON
/// pointer) stand for values known only later (a CloudFormation template's intrinsic functions):
/// validation does not judge them. Problems keep no line and column (the text is not the user's).
pub(crate) fn protect_with_unknowns(
    text: &str,
    options: &ProtectOptions,
    is_unknown: &dyn Fn(&str) -> bool,
    cancel: &Cancel,
) -> Result<Protected, Rejected> {
    cancel.check()?;
    protect_owned(normalize(parse(text)?), options, is_unknown, cancel)
}

/// Protects a normalized document it owns: the documents are moved, not copied, where they can
/// be (copies of a big task definition are most of the cost). In phases: the base (an earlier
/// protection undone) checked, its containers wrapped, the task-level changes and the added
/// containers, and the service's rules checked on the result.
fn protect_owned(
    normalized: Normalized,
    options: &ProtectOptions,
    is_unknown: &dyn Fn(&str) -> bool,
    cancel: &Cancel,
) -> Result<Protected, Rejected> {
    // Asked per problem, not by a list of the unknown leaves' pointers: a list would hold a
    // pointer per intrinsic function, each as long as every key above it.
    let judged = |problem: &Problem| !problem.pointer.as_deref().is_some_and(is_unknown);
    cancel.check()?;
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

    let Base {
        base,
        recovered,
        input,
    } = Base::of(task, &mut summary)?;
    cancel.check()?;
    let base = checked_base(form, base, options, &recovered, &judged)?;
    cancel.check()?;
    let plan = plan_containers(&base, options)?;
    let profile = options.profile.name();
    let mut building = Building {
        output: base.clone(),
        record: empty_record(profile),
        summary,
        warnings: Vec::new(),
    };
    building.wrap_containers(&plan, options, &recovered, cancel)?;
    if form != InputForm::ContainerDefinitions {
        building.change_task(profile);
    }
    building.warnings.extend(container_list_note(form));
    building.add_containers(options, &plan, &base);

    cancel.check()?;
    check_after_protection(form, &building.output, &judged)?;
    for (key, value) in base
        .iter()
        .filter(|(key, _)| !FREE_TEXT_KEYS.contains(&key.as_str()))
    {
        placeholder_warnings(value, &Path::Root.key(key), &mut building.warnings);
    }
    let Building {
        output,
        summary,
        warnings,
        ..
    } = building;
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

/// The task to protect. A protected input is unprotected first: the result is then the same as
/// protecting the original, and an older protection is upgraded in place.
struct Base {
    base: Map<String, Value>,
    /// The image argv the earlier protection recorded, per container.
    recovered: BTreeMap<String, ImageArgv>,
    /// The protected input (the left side of the diff), only when there was an earlier
    /// protection; otherwise the base is the input.
    input: Option<Map<String, Value>>,
}

impl Base {
    fn of(task: Map<String, Value>, summary: &mut Summary) -> Result<Self, Rejected> {
        Ok(match unprotect_task(&task)? {
            Some((base, recovered)) => {
                summary.replaced_protection = true;
                Base {
                    base,
                    recovered,
                    input: Some(task),
                }
            }
            None => Base {
                base: task,
                recovered: BTreeMap::new(),
                input: None,
            },
        })
    }
}

/// The task to protect, checked before anything is changed: validation (of the leaves `judged`
/// says are the user's), a Windows task, the profile's options. A task that fails validation is
/// also told which containers need their image's argv: otherwise that would be the next answer,
/// after the first is fixed.
fn checked_base(
    form: InputForm,
    base: Map<String, Value>,
    options: &ProtectOptions,
    recovered: &BTreeMap<String, ImageArgv>,
    judged: &dyn Fn(&Problem) -> bool,
) -> Result<Map<String, Value>, Rejected> {
    let base = Value::Object(base);
    let mut problems: Vec<Problem> = validate_document(form, &base)
        .into_iter()
        .filter(|problem| judged(problem))
        .collect();
    let Value::Object(base) = base else {
        unreachable!("built as an object just above")
    };
    if !problems.is_empty() {
        for missing in missing_entrypoints(&base, options, recovered) {
            let said = problems
                .iter()
                .any(|problem| problem.kind == missing.kind && problem.pointer == missing.pointer);
            if !said {
                problems.push(missing);
            }
        }
        cap_problems(&mut problems);
        return Err(Rejected { problems });
    }
    if let Some(problem) = windows_evidence(&base) {
        return Err(Rejected::one(problem));
    }
    let option_problems = options.profile.install().option_problems();
    if !option_problems.is_empty() {
        return Err(Rejected {
            problems: option_problems,
        });
    }
    Ok(base)
}

/// The containers of a task that fails validation that need their image's argv, as problems.
/// None when the containers cannot be read (not a list of at most ECS's 10 objects, or the plan
/// cannot be made), nor for a Windows task, which no argv makes protectable; a container is
/// skipped when its name, image, entryPoint or command cannot be read.
fn missing_entrypoints(
    base: &Map<String, Value>,
    options: &ProtectOptions,
    recovered: &BTreeMap<String, ImageArgv>,
) -> Vec<Problem> {
    let Some(containers) = base.get("containerDefinitions").and_then(Value::as_array) else {
        return Vec::new();
    };
    if containers.len() > MAX_CONTAINERS || windows_evidence(base).is_some() {
        return Vec::new();
    }
    let Ok(plan) = plan_containers(base, options) else {
        return Vec::new();
    };
    containers
        .iter()
        .zip(&plan)
        .enumerate()
        .filter(|(_, (_, plan))| plan.protect)
        .filter_map(|(index, (container, plan))| {
            let container = readable_container(container)?;
            let reason = unwrappable(container, image_argv_of(&plan.name, options, recovered))?;
            Some(missing_argv_problem(index, plan, reason))
        })
        .collect()
}

/// A container whose name and image are text and whose entryPoint and command, when there, are
/// lists of text: enough to say what it runs.
fn readable_container(container: &Value) -> Option<&Map<String, Value>> {
    let container = container.as_object()?;
    let text = |key: &str| {
        container
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|text| !text.is_empty())
    };
    let argv = |key: &str| match container.get(key) {
        None => true,
        Some(Value::Array(items)) => items.iter().all(Value::is_string),
        Some(_) => false,
    };
    (text("name") && text("image") && argv("entryPoint") && argv("command")).then_some(container)
}

/// The image argv to use for a container: the one the user gave, or else the one an earlier
/// protection recorded.
fn image_argv_of<'a>(
    name: &str,
    options: &'a ProtectOptions,
    recovered: &'a BTreeMap<String, ImageArgv>,
) -> Option<(&'a ImageArgv, ArgvSource)> {
    let given = options
        .image_argv
        .get(name)
        .map(|argv| (argv, ArgvSource::GivenByUser));
    given.or_else(|| {
        recovered
            .get(name)
            .map(|argv| (argv, ArgvSource::EarlierProtection))
    })
}

/// The record of a protection by `profile` that has changed nothing yet.
fn empty_record(profile: ProfileName) -> ProtectionRecord {
    ProtectionRecord {
        v: if profile == ProfileName::Palisade {
            RECORD_VERSION
        } else {
            PROFILE_RECORD_VERSION
        },
        profile,
        pid_mode: None,
        volumes: None,
        containers: BTreeMap::new(),
    }
}

/// What protect builds from the base: the protected task, the record of what it changed (for
/// unprotect), the summary and the warnings.
struct Building {
    output: Map<String, Value>,
    record: ProtectionRecord,
    summary: Summary,
    warnings: Vec<Warning>,
}

impl Building {
    /// Wraps every container the plan protects; those that cannot be wrapped are refused
    /// together.
    fn wrap_containers(
        &mut self,
        plan: &[ContainerPlan],
        options: &ProtectOptions,
        recovered: &BTreeMap<String, ImageArgv>,
        cancel: &Cancel,
    ) -> Result<(), Rejected> {
        let profile = options.profile.name();
        let changes = options.profile.install().workload_changes();
        let mut missing = Vec::new();
        let containers = match self.output.get_mut("containerDefinitions") {
            Some(Value::Array(containers)) => containers,
            _ => unreachable!("validated: containerDefinitions is a non-empty array"),
        };
        for (index, (container, plan)) in containers.iter_mut().zip(plan).enumerate() {
            cancel.check()?;
            if !plan.protect {
                self.summary.skipped.push(SkippedContainer {
                    container: plan.name.clone(),
                    reason: plan.reason.clone().unwrap_or_else(|| "excluded".to_owned()),
                });
                continue;
            }
            let Value::Object(container) = container else {
                unreachable!("validated: containers are objects")
            };
            let image_argv = image_argv_of(&plan.name, options, recovered);
            if let Some(problem) = variable_conflict(index, container, plan, profile) {
                missing.push(problem);
                continue;
            }
            match wrap_container(container, image_argv, profile, &changes) {
                Ok((container_record, wrapped)) => {
                    self.record
                        .containers
                        .insert(plan.name.clone(), container_record);
                    self.summary.wrapped.push(wrapped);
                }
                Err(reason) => missing.push(missing_argv_problem(index, plan, reason)),
            }
        }
        if !missing.is_empty() {
            return Err(Rejected { problems: missing });
        }
        if self.record.containers.is_empty() {
            return Err(Rejected::one(
                Problem::at(
                    ProblemKind::Options,
                    "/containerDefinitions",
                    "no container is left to protect",
                )
                .with_hint("include at least one container"),
            ));
        }
        Ok(())
    }

    /// The task-level changes the profile needs: `pidMode: "task"` and its volume.
    fn change_task(&mut self, profile: ProfileName) {
        let output = &mut self.output;
        if profile.needs_task_pid_mode() {
            self.record.pid_mode = Some(origin_of(output.get("pidMode")));
            if !output.contains_key("pidMode") {
                output.insert("pidMode".into(), json!("task"));
                self.summary.task_changes.push(format!(
                    "set pidMode to \"task\" so {} sees every process of the task",
                    profile.watcher()
                ));
            }
        }
        if let Some((volume, _)) = profile.volume() {
            self.record.volumes = Some(origin_of(output.get("volumes")));
            let volumes = output
                .entry("volumes")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(volumes) = volumes {
                volumes.push(json!({ "name": volume }));
            }
            self.summary.task_changes.push(format!(
                "added task volume {volume} ({})",
                profile.volume_holds()
            ));
        }
    }

    /// The profile's containers (the defender, or the vendor's), after the workloads.
    fn add_containers(
        &mut self,
        options: &ProtectOptions,
        plan: &[ContainerPlan],
        base: &Map<String, Value>,
    ) {
        let first_log_configuration = plan
            .iter()
            .zip(array_items(base.get("containerDefinitions")))
            .find(|(plan, _)| plan.protect)
            .and_then(|(_, container)| container.get("logConfiguration").cloned());
        let install = options.profile.install();
        let sidecars = Sidecars {
            options,
            record: &self.record,
            task: base,
            log_configuration: first_log_configuration.as_ref(),
        };
        let added = install.containers(&sidecars, &mut self.warnings);
        if let Some(Value::Array(containers)) = self.output.get_mut("containerDefinitions") {
            containers.extend(added);
        }
        self.summary.added_container = Some(install.added_summary(options));
    }
}

/// The input passed the schema and protect only adds schema-valid structures, so the service's
/// rules (container count, size, references, memory) are what is left to check.
fn check_after_protection(
    form: InputForm,
    output: &Map<String, Value>,
    judged: &dyn Fn(&Problem) -> bool,
) -> Result<(), Rejected> {
    let problems: Vec<Problem> = crate::validate::service_rule_problems(form, output)
        .into_iter()
        .filter(|problem| judged(problem))
        .map(|mut problem| {
            problem.message = format!("after protection: {}", problem.message);
            problem
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Rejected { problems })
    }
}

/// A wrapped container that already sets a variable the profile adds to it (a task instrumented
/// by the vendor's own tooling before): refused rather than set twice.
fn variable_conflict(
    index: usize,
    container: &serde_json::Map<String, Value>,
    plan: &ContainerPlan,
    profile: ProfileName,
) -> Option<Problem> {
    let variables = profile.workload_variables();
    ["environment", "secrets"].into_iter().find_map(|key| {
        array_items(container.get(key))
            .enumerate()
            .find_map(|(item, variable)| {
                let name = variable.get("name").and_then(Value::as_str)?;
                variables.contains(&name).then(|| {
                    Problem::at(
                        ProblemKind::Options,
                        format!("/containerDefinitions/{index}/{key}/{item}"),
                        format!("container `{}` already sets {name}, which the {profile} profile sets", plan.name),
                    )
                    .with_hint(format!("remove {name} (and the rest of an earlier hand-made instrumentation) from `{}`, or --exclude {}", plan.name, plan.name))
                    .about_container(&plan.name)
                })
            })
    })
}

/// Whether `task` (RegisterTaskDefinition or DescribeTaskDefinition's `taskDefinition` shape)
/// carries a Palisade protection of any profile: the container holding its protection record
/// (also one written by a newer Palisade).
pub fn is_protected(task: &serde_json::Map<String, Value>) -> bool {
    !matches!(unprotect_task(task), Ok(None))
}

/// Parses, normalizes and removes a Palisade protection (of any profile).
pub fn unprotect_text(text: &str) -> Result<Unprotected, Rejected> {
    unprotect_text_cancellable(text, &Cancel::never())
}

/// [`unprotect_text`], stopped with a [`ProblemKind::Cancelled`] problem at its next step once
/// `cancel` is raised.
pub fn unprotect_text_cancellable(text: &str, cancel: &Cancel) -> Result<Unprotected, Rejected> {
    cancel.check()?;
    let normalized = normalize(parse(text)?);
    cancel.check()?;
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
    fn a_host_path_with_a_wide_character_where_a_drive_letter_goes_is_no_panic() {
        let mut options = options();
        options.image_argv.clear();
        for path in ["a:€", "€", "C:\\data", "a:", "é:\\x"] {
            let text = json!({"family": "f", "requiresCompatibilities": ["EC2"],
                "volumes": [{"name": "v", "host": {"sourcePath": path}}],
                "containerDefinitions": [{"name": "a", "image": "x", "entryPoint": ["/a"], "memory": 64}]})
            .to_string();
            let answer = protect_text(&text, &options);
            let windows = path == "C:\\data";
            assert_eq!(answer.is_err(), windows, "{path}: {answer:?}");
        }
    }

    #[test]
    fn thousands_of_containers_or_mistakes_give_one_bounded_answer() {
        let mut options = options();
        options.image_argv.clear();
        let containers: Vec<Value> = (0..3000).map(|i| json!({"name": format!("c{i}"), "image": "x", "entryPoint": ["/x"], "memory": 64})).collect();
        let text = json!({"family": "f", "containerDefinitions": containers}).to_string();
        let rejected = protect_text(&text, &options).unwrap_err();
        assert_eq!(rejected.problems.len(), 1, "only the limit: {rejected}");
        assert!(rejected.problems[0].message.starts_with("3000 containers"));

        let ports: Vec<Value> = (0..3000)
            .map(|i| json!({"containerPort": format!("p{i}")}))
            .collect();
        let text = json!({"family": "f", "containerDefinitions": [
            {"name": "a", "image": "x", "entryPoint": ["/x"], "memory": 64, "portMappings": ports}]})
        .to_string();
        let rejected = protect_text(&text, &options).unwrap_err();
        assert_eq!(rejected.problems.len(), crate::problem::MAX_PROBLEMS + 1);
        assert!(rejected
            .problems
            .last()
            .unwrap()
            .message
            .starts_with("more problems"));
        let located = &rejected.problems[99];
        assert_eq!(located.line, Some(1), "located in the text: {located:?}");
        let column = located.column.unwrap();
        assert!(text[column - 1..].starts_with("\"p99\""), "{located:?}");
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

    /// FARGATE with the legacy console's `"networkMode": "default"`, which Fargate refuses.
    fn fargate_in_default_network_mode() -> String {
        FARGATE.replacen("\"awsvpc\"", "\"default\"", 1)
    }

    #[test]
    fn a_validation_problem_and_a_missing_entrypoint_are_answered_together() {
        let text = fargate_in_default_network_mode();
        let rejected = protect_text(&text, &ProtectOptions::default()).unwrap_err();
        let kinds: Vec<ProblemKind> = rejected.problems.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            [ProblemKind::Schema, ProblemKind::MissingEntrypoint],
            "{rejected}"
        );
        assert_eq!(
            rejected.problems[0].pointer.as_deref(),
            Some("/networkMode")
        );
        let missing = &rejected.problems[1];
        assert_eq!(missing.pointer.as_deref(), Some("/containerDefinitions/1"));
        assert_eq!(missing.container.as_deref(), Some("worker"));
        assert!(missing
            .hint
            .as_deref()
            .unwrap()
            .contains("--entrypoint 'worker="));
        let worker_line = text
            .lines()
            .position(|line| line.contains("\"worker\""))
            .unwrap()
            + 1;
        assert_eq!(
            missing.line,
            Some(worker_line),
            "located in the pasted text"
        );

        // Given the argv, only the validation problem is left; fixed, it protects.
        let rejected = protect_text(&text, &options()).unwrap_err();
        assert_eq!(rejected.problems.len(), 1, "{rejected}");
        assert!(protect_text(FARGATE, &options()).is_ok());
    }

    #[test]
    fn containers_too_broken_to_read_are_not_said_to_miss_an_entrypoint() {
        let no_entrypoint_problem = |task: Value| {
            let rejected = protect_text(&task.to_string(), &ProtectOptions::default()).unwrap_err();
            assert!(!rejected.problems.is_empty());
            assert!(
                !rejected.has(ProblemKind::MissingEntrypoint),
                "{task}: {rejected}"
            );
        };
        // An entryPoint or command that is not a list of strings, a container with no name or
        // image, a container that is not an object, containers that are not a list.
        for container in [
            json!({"name": "a", "image": "x", "memory": 64, "entryPoint": "/a"}),
            json!({"name": "a", "image": "x", "memory": 64, "command": "serve"}),
            json!({"name": "a", "image": "x", "memory": 64, "entryPoint": [1]}),
            json!({"image": "x", "memory": 64}),
            json!({"name": "a", "memory": 64}),
            json!("a"),
        ] {
            no_entrypoint_problem(json!({"family": "f", "containerDefinitions": [container]}));
        }
        no_entrypoint_problem(json!({"family": "f", "containerDefinitions": {"name": "a"}}));
        // More containers than ECS takes: the limit alone.
        let containers: Vec<Value> = (0..11)
            .map(|i| json!({"name": format!("c{i}"), "image": "x", "memory": 64}))
            .collect();
        no_entrypoint_problem(json!({"family": "f", "containerDefinitions": containers}));
        // A Windows task is refused whatever its argv.
        no_entrypoint_problem(
            json!({"family": "${F}", "runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2019_CORE"},
            "containerDefinitions": [{"name": "a", "image": "x", "memory": 64}]}),
        );
    }

    #[test]
    fn a_readable_container_beside_a_broken_one_is_still_said_to_miss_its_entrypoint() {
        let task = json!({"family": "f", "containerDefinitions": [
            {"name": "a", "image": "x", "memory": 64, "entryPoint": "/a"},
            {"name": "b", "image": "y", "memory": 64}]});
        let rejected = protect_text(&task.to_string(), &ProtectOptions::default()).unwrap_err();
        let missing: Vec<&str> = rejected
            .problems
            .iter()
            .filter(|p| p.kind == ProblemKind::MissingEntrypoint)
            .filter_map(|p| p.pointer.as_deref())
            .collect();
        assert_eq!(missing, ["/containerDefinitions/1"], "{rejected}");
    }

    #[test]
    fn each_problem_is_said_once_and_the_answer_stays_bounded() {
        let text = fargate_in_default_network_mode();
        let rejected = protect_text(&text, &ProtectOptions::default()).unwrap_err();
        let mut places: Vec<(ProblemKind, Option<&str>)> = rejected
            .problems
            .iter()
            .map(|p| (p.kind, p.pointer.as_deref()))
            .collect();
        let said = places.len();
        places.sort_by_key(|(kind, pointer)| (format!("{kind:?}"), pointer.map(str::to_owned)));
        places.dedup();
        assert_eq!(places.len(), said, "{rejected}");

        // A thousand mistakes and a missing entrypoint: still the first hundred and a note.
        let ports: Vec<Value> = (0..1000)
            .map(|i| json!({"containerPort": format!("p{i}")}))
            .collect();
        let task = json!({"family": "f", "containerDefinitions": [
            {"name": "a", "image": "x", "memory": 64, "portMappings": ports}]});
        let rejected = protect_text(&task.to_string(), &ProtectOptions::default()).unwrap_err();
        assert_eq!(rejected.problems.len(), crate::problem::MAX_PROBLEMS + 1);
        assert!(rejected
            .problems
            .last()
            .unwrap()
            .message
            .starts_with("more problems"));
    }
}
