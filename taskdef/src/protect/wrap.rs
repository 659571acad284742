//! Wrapping one container as its profile says: its argv behind the profile's wrapper (by Docker's
//! rules for where the argv comes from), the profile's volume mounted, `dependsOn` its sidecars,
//! and for the vendors' profiles SYS_PTRACE, their variables and `volumesFrom`.

use super::plan::ContainerPlan;
use super::profile::{ArgvShape, ProfileName, WorkloadChanges};
use super::record::{origin_of, ContainerRecord, Origin, PtraceOrigin};
use super::{non_empty, ImageArgv};
use crate::problem::{Problem, ProblemKind};
use crate::summary::{ArgvSource, WrappedContainer};
use serde_json::{json, Map, Value};

/// Why a container could not be wrapped.
pub(super) enum WrapError {
    /// No entryPoint and no image argv given.
    NeedsImageArgv,
    /// The argv would be empty: nothing to run.
    EmptyArgv,
}

/// Wraps one container's argv; `image_argv` is needed when it has no `entryPoint`.
pub(super) fn wrap_container(
    container: &mut Map<String, Value>,
    image_argv: Option<(&ImageArgv, ArgvSource)>,
    profile: ProfileName,
    changes: &WorkloadChanges,
) -> Result<(ContainerRecord, WrappedContainer), WrapError> {
    let name = container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let entry_point_origin = origin_of(container.get("entryPoint"));
    let own_entry_point = non_empty(container.get("entryPoint"));
    let own_command = non_empty(container.get("command"));
    let mut chosen = choose_argv(
        container,
        own_entry_point.as_deref(),
        own_command.is_some(),
        image_argv,
    )?;
    let (wrapped, argv_split) = wrap_argv(container, profile, &mut chosen, own_command);
    let mount_points = origin_of(container.get("mountPoints"));
    if let Some((volume, path)) = profile.volume() {
        append(
            container,
            "mountPoints",
            json!({ "sourceVolume": volume, "containerPath": path, "readOnly": true }),
        );
    }
    let depends_on = origin_of(container.get("dependsOn"));
    for item in &changes.depends_on {
        append(container, "dependsOn", item.clone());
    }
    let mut extend = |key: &str, items: &[Value]| {
        (!items.is_empty()).then(|| {
            let origin = origin_of(container.get(key));
            for item in items {
                append(container, key, item.clone());
            }
            origin
        })
    };
    let environment = extend("environment", &changes.environment);
    let secrets = extend("secrets", &changes.secrets);
    let volumes_from = extend("volumesFrom", &changes.volumes_from);
    let ptrace = profile.workload_ptrace().then(|| add_ptrace(container));

    Ok((
        ContainerRecord {
            entry_point: entry_point_origin,
            command: chosen.command_record,
            mount_points,
            depends_on,
            environment,
            secrets,
            volumes_from,
            ptrace,
            argv_split,
        },
        WrappedContainer {
            container: name,
            before: own_entry_point,
            after: wrapped,
            command_added: chosen.command_added.filter(|_| argv_split.is_none()),
            source: chosen.source,
        },
    ))
}

/// Why `container` cannot be wrapped, found without wrapping it (for a task refused for other
/// reasons, whose answer still names the containers that need their image's argv).
pub(super) fn unwrappable(
    container: &Map<String, Value>,
    image_argv: Option<(&ImageArgv, ArgvSource)>,
) -> Option<WrapError> {
    let own_entry_point = non_empty(container.get("entryPoint"));
    let has_command = non_empty(container.get("command")).is_some();
    choose_argv(
        container,
        own_entry_point.as_deref(),
        has_command,
        image_argv,
    )
    .err()
}

/// The argv a container runs, before it is wrapped: its own entry point, or its image's.
struct ChosenArgv {
    /// What the wrapper goes in front of (the whole argv but the container's own `command`).
    head: Vec<String>,
    source: ArgvSource,
    /// What `command` was, when protect changes it.
    command_record: Option<Origin>,
    /// The image's CMD, written as `command` when the container has none.
    command_added: Option<Vec<String>>,
}

/// Docker: an entryPoint in the task definition replaces the image's ENTRYPOINT and discards its
/// CMD unless `command` is set; without one, the image's ENTRYPOINT (and CMD, when the task has
/// no command either) is what runs.
fn choose_argv(
    container: &Map<String, Value>,
    own_entry_point: Option<&[String]>,
    has_command: bool,
    image_argv: Option<(&ImageArgv, ArgvSource)>,
) -> Result<ChosenArgv, WrapError> {
    let mut command_record = None;
    let mut command_added = None;
    let (head, source) = match (own_entry_point, image_argv) {
        (Some(entry_point), _) => (entry_point.to_vec(), ArgvSource::TaskDefinition),
        (None, Some((given, source))) => {
            if !has_command {
                if let Some(cmd) = given.command.as_ref().filter(|cmd| !cmd.is_empty()) {
                    command_record = Some(origin_of(container.get("command")));
                    command_added = Some(cmd.clone());
                }
            }
            (given.entry_point.clone(), source)
        }
        (None, None) => return Err(WrapError::NeedsImageArgv),
    };
    if head.is_empty() && !has_command && command_added.is_none() {
        return Err(WrapError::EmptyArgv);
    }
    Ok(ChosenArgv {
        head,
        source,
        command_record,
        command_added,
    })
}

/// Puts the profile's wrapper in front of the argv; answers the wrapped argv and, when the argv
/// moved into `command`, how many of its items were the entry point.
fn wrap_argv(
    container: &mut Map<String, Value>,
    profile: ProfileName,
    chosen: &mut ChosenArgv,
    own_command: Option<Vec<String>>,
) -> (Vec<String>, Option<usize>) {
    let head = std::mem::take(&mut chosen.head);
    match profile.argv_shape() {
        ArgvShape::Prefix(prefix) => {
            let wrapped: Vec<String> = prefix.into_iter().chain(head).collect();
            container.insert("entryPoint".into(), json!(wrapped));
            if let Some(cmd) = &chosen.command_added {
                container.insert("command".into(), json!(cmd));
            }
            (wrapped, None)
        }
        ArgvShape::Instrument(instrument) => {
            // The whole argv moves into `command`, behind one instrumenting entry point; the
            // record says where the entry point ended, and what `command` was.
            let split = head.len();
            chosen.command_record = Some(origin_of(container.get("command")));
            let tail = own_command
                .or(chosen.command_added.clone())
                .unwrap_or_default();
            let argv: Vec<String> = head.into_iter().chain(tail).collect();
            container.insert("entryPoint".into(), json!([instrument]));
            container.insert("command".into(), json!(argv));
            (
                std::iter::once(instrument).chain(argv).collect(),
                Some(split),
            )
        }
    }
}

/// Adds SYS_PTRACE to `linuxParameters.capabilities.add`, creating what is missing; answers what
/// was there before.
fn add_ptrace(container: &mut Map<String, Value>) -> PtraceOrigin {
    let linux_parameters = container.contains_key("linuxParameters");
    let linux = container
        .entry("linuxParameters")
        .or_insert_with(|| json!({}));
    if !linux.is_object() {
        *linux = json!({});
    }
    let capabilities_there = linux.get("capabilities").is_some_and(Value::is_object);
    let capabilities = linux
        .as_object_mut()
        .map(|linux| linux.entry("capabilities").or_insert_with(|| json!({})));
    let Some(Value::Object(capabilities)) = capabilities else {
        return PtraceOrigin {
            already: true,
            linux_parameters,
            capabilities: capabilities_there,
            add: Origin::Present,
        };
    };
    let add = origin_of(capabilities.get("add"));
    let already = capabilities
        .get("add")
        .and_then(Value::as_array)
        .is_some_and(|items| items.iter().any(|item| item == "SYS_PTRACE"));
    if !already {
        append(capabilities, "add", json!("SYS_PTRACE"));
    }
    PtraceOrigin {
        already,
        linux_parameters,
        capabilities: capabilities_there,
        add,
    }
}

pub(super) fn append(container: &mut Map<String, Value>, key: &str, item: Value) {
    match container
        .entry(key)
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(items) => items.push(item),
        other => *other = Value::Array(vec![item]),
    }
}

pub(super) fn missing_argv_problem(
    index: usize,
    plan: &ContainerPlan,
    reason: WrapError,
) -> Problem {
    let pointer = format!("/containerDefinitions/{index}");
    let problem = match reason {
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
    };
    problem.about_container(&plan.name)
}
