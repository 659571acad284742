//! Wrapping one container: its argv behind `palisade-defender exec --` (by Docker's rules for
//! where the argv comes from), the volume mounted, `dependsOn` the defender.

use super::plan::ContainerPlan;
use super::record::{origin_of, ContainerRecord};
use super::{non_empty, ImageArgv, DEFENDER_CONTAINER, MOUNT_PATH, VOLUME, WRAPPER_PREFIX};
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
