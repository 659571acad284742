//! Which containers are wrapped, and why (FireLens log routers and the mesh proxy are skipped by
//! default; the user includes or excludes any), with the user's names checked.

use super::record::unprotect_task;
use super::{container_name, non_empty, ProtectOptions};
use crate::normalize::normalize;
use crate::parse::parse;
use crate::problem::{Problem, ProblemKind, Rejected};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Whether and why a container is protected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    let problems = option_problems(task, &names, options);
    if !problems.is_empty() {
        return Err(Rejected { problems });
    }
    let proxy = task
        .get("proxyConfiguration")
        .and_then(|p| p.get("containerName"))
        .and_then(Value::as_str);
    Ok(containers
        .iter()
        .map(|container| container_plan(container, options, proxy))
        .collect())
}

/// The user's container names that name no container, and the names the profile needs that the
/// task already uses.
fn option_problems(
    task: &Map<String, Value>,
    names: &[&str],
    options: &ProtectOptions,
) -> Vec<Problem> {
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
    let profile = options.profile.name();
    for added in profile.added_containers() {
        if names.contains(added) {
            problems.push(
                Problem::at(ProblemKind::Options, "/containerDefinitions", format!("a container is already named `{added}` but carries no Palisade protection record"))
                    .with_hint(format!("rename that container, or remove it if it is a hand-made copy of the {} recipe (the {profile} profile adds it)", profile.title())),
            );
        }
    }
    if let Some((volume, _)) = profile.volume() {
        let volume_taken = task
            .get("volumes")
            .and_then(Value::as_array)
            .is_some_and(|volumes| {
                volumes
                    .iter()
                    .any(|v| v.get("name").and_then(Value::as_str) == Some(volume))
            });
        if volume_taken {
            problems.push(
                Problem::at(
                    ProblemKind::Options,
                    "/volumes",
                    format!("a volume is already named `{volume}`"),
                )
                .with_hint(format!(
                    "rename that volume: the {profile} profile needs the name"
                )),
            );
        }
    }
    problems
}

/// Whether `container` is wrapped, and why: skipped by default when it is a FireLens log router or
/// the mesh proxy (`proxy` names it), unless the user says otherwise.
fn container_plan(
    container: &Value,
    options: &ProtectOptions,
    proxy: Option<&str>,
) -> ContainerPlan {
    let name = container_name(container).to_owned();
    let default_skip = if container.get("firelensConfiguration").is_some() {
        Some("FireLens log router (it must start before the workloads it logs for)".to_owned())
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
}

/// The plan of an input that validates, for image lookups: a task definition the generator will
/// refuse anyway looks nothing up (so a refused input cannot make the console probe registries),
/// and a valid one names at most ECS's 10 containers.
pub fn valid_plan_text(
    text: &str,
    options: &ProtectOptions,
) -> Result<Vec<ContainerPlan>, Rejected> {
    let normalized = normalize(parse(text)?);
    let base = match unprotect_task(&normalized.task)? {
        Some((base, _)) => base,
        None => normalized.task,
    };
    let base = Value::Object(base);
    let problems = crate::validate::validate_document(normalized.form, &base);
    if !problems.is_empty() {
        return Err(Rejected { problems });
    }
    match base {
        Value::Object(base)
            if base
                .get("containerDefinitions")
                .is_some_and(Value::is_array) =>
        {
            plan_containers(&base, options)
        }
        _ => Ok(Vec::new()),
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
