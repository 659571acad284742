//! The protection record: what protect found before it changed each key, kept as a label on the
//! defender, and unprotect, which reads it to give back exactly the original task.

use super::profile::{ArgvShape, ProfileName};
use super::{container_name, strings, ImageArgv, PROTECTION_LABEL};
use crate::pointer_push;
use crate::problem::{Problem, ProblemKind, Rejected};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The format version of [`ProtectionRecord`] for the bundled defender (unchanged since 1, so an
/// older Palisade still reads it); older records stay readable.
pub(super) const RECORD_VERSION: u32 = 1;
/// The version of records written for the vendors' profiles (an older Palisade, which knows only
/// its own defender, refuses them instead of undoing them wrongly).
pub(super) const PROFILE_RECORD_VERSION: u32 = 2;

/// What protect found before it changed a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Origin {
    /// The key was not there.
    Absent,
    /// The key was an empty list.
    Empty,
    /// The key had a value, kept (and extended) by protect.
    Present,
}

pub(super) fn origin_of(value: Option<&Value>) -> Origin {
    match value {
        None => Origin::Absent,
        Some(Value::Array(items)) if items.is_empty() => Origin::Empty,
        Some(_) => Origin::Present,
    }
}

/// Restores a key to what it was before protect; `restored` is its value when it was present.
pub(super) fn restore_key(
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
pub(super) struct ContainerRecord {
    pub(super) entry_point: Origin,
    /// Set when protect wrote the image CMD into `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) command: Option<Origin>,
    pub(super) mount_points: Origin,
    pub(super) depends_on: Origin,
    /// The rest only for the profiles that change them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) environment: Option<Origin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) secrets: Option<Origin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) volumes_from: Option<Origin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) ptrace: Option<PtraceOrigin>,
    /// For an argv moved into `command` (behind an instrumenting entry point): how many of its
    /// first items were the entry point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) argv_split: Option<usize>,
}

/// What `linuxParameters.capabilities.add` looked like before SYS_PTRACE was added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PtraceOrigin {
    /// SYS_PTRACE was there already: nothing was added.
    pub(super) already: bool,
    pub(super) linux_parameters: bool,
    pub(super) capabilities: bool,
    pub(super) add: Origin,
}

pub(super) fn is_palisade(name: &ProfileName) -> bool {
    *name == ProfileName::Palisade
}

/// The label protect leaves on the defender: enough to undo exactly what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProtectionRecord {
    pub(super) v: u32,
    /// Absent for the bundled defender (records before profiles existed have none).
    #[serde(default, skip_serializing_if = "is_palisade")]
    pub(super) profile: ProfileName,
    /// Absent for the container-list form, where protect cannot touch task-level keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) pid_mode: Option<Origin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) volumes: Option<Origin>,
    pub(super) containers: BTreeMap<String, ContainerRecord>,
}

/// An unprotected task and the image argv recovered per container.
type Unwrapped = (Map<String, Value>, BTreeMap<String, ImageArgv>);

/// Removes a Palisade protection from a task map. `None` when there is none; otherwise the
/// original task and, per container whose argv came from its image, that argv (so protecting
/// again needs no `--entrypoint`).
pub(super) fn unprotect_task(task: &Map<String, Value>) -> Result<Option<Unwrapped>, Rejected> {
    let Some(containers) = task.get("containerDefinitions").and_then(Value::as_array) else {
        return Ok(None);
    };
    let Some((record_index, record)) = find_record(containers) else {
        return Ok(None);
    };
    if record.v > PROFILE_RECORD_VERSION {
        return Err(Rejected::one(
            Problem::at(
                ProblemKind::Options,
                format!("/containerDefinitions/{record_index}/dockerLabels"),
                format!(
                    "this task was protected by a newer Palisade (record version {})",
                    record.v
                ),
            )
            .with_hint("use that Palisade version or newer"),
        ));
    }
    let profile = record.profile;
    let added = profile.added_containers();
    let volume = profile.volume().map(|(name, _)| name);

    let mut task = task.clone();
    let mut recovered = BTreeMap::new();
    if let Some(Value::Array(containers)) = task.get_mut("containerDefinitions") {
        containers.retain(|container| !added.contains(&container_name(container)));
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
            if let Some(argv) = restore_argv(container, profile, entry) {
                recovered.insert(name, argv);
            }
            remove_additions(container, profile, entry);
        }
    }
    if record.pid_mode == Some(Origin::Absent) {
        task.shift_remove("pidMode");
    }
    if let (Some(origin), Some(volume)) = (record.volumes, volume) {
        remove_items(&mut task, "volumes", origin, |item| {
            item.get("name").and_then(Value::as_str) == Some(volume)
        });
    }
    Ok(Some((task, recovered)))
}

/// The protection record and the index of the container holding it. The record is on the first
/// container a profile adds; a container of such a name without our record is not ours
/// (plan_containers reports it).
fn find_record(containers: &[Value]) -> Option<(usize, ProtectionRecord)> {
    containers
        .iter()
        .enumerate()
        .find_map(|(index, container)| {
            let name = container_name(container);
            if !ProfileName::ALL
                .iter()
                .any(|profile| profile.record_container() == name)
            {
                return None;
            }
            let label = container
                .pointer(&pointer_push("/dockerLabels", PROTECTION_LABEL))
                .and_then(Value::as_str)?;
            let record = serde_json::from_str::<ProtectionRecord>(label).ok()?;
            (record.profile.record_container() == name).then_some((index, record))
        })
}

/// Gives a wrapped container its own entry point and command back; answers the argv it ran when
/// that came from its image.
fn restore_argv(
    container: &mut Map<String, Value>,
    profile: ProfileName,
    entry: &ContainerRecord,
) -> Option<ImageArgv> {
    let (original, command) = original_argv(container, &profile.argv_shape(), entry);
    let recovered = (entry.entry_point != Origin::Present).then(|| {
        let image_command = match entry.argv_split {
            // The image's CMD is what followed its entry point in the moved argv.
            Some(_) => command
                .clone()
                .filter(|cmd| !cmd.is_empty() && entry.command != Some(Origin::Present)),
            None => entry
                .command
                .and_then(|_| strings(container.get("command"))),
        };
        ImageArgv {
            entry_point: original.clone(),
            command: image_command,
        }
    });
    restore_key(
        container,
        "entryPoint",
        entry.entry_point,
        Some(json!(original)),
    );
    match (entry.argv_split, entry.command) {
        // The argv was moved into `command`: it gets back what followed the entry point.
        (Some(_), origin) => restore_key(
            container,
            "command",
            origin.unwrap_or(Origin::Present),
            command.map(|command| json!(command)),
        ),
        (None, Some(origin)) => restore_key(container, "command", origin, None),
        (None, None) => {}
    }
    recovered
}

/// Takes out of a wrapped container what the profile added to it: its volume's mount, the
/// dependencies on its containers, its variables, `volumesFrom` and SYS_PTRACE.
fn remove_additions(
    container: &mut Map<String, Value>,
    profile: ProfileName,
    entry: &ContainerRecord,
) {
    let added = profile.added_containers();
    if let Some((volume, _)) = profile.volume() {
        remove_items(container, "mountPoints", entry.mount_points, |item| {
            item.get("sourceVolume").and_then(Value::as_str) == Some(volume)
        });
    }
    remove_items(container, "dependsOn", entry.depends_on, |item| {
        item.get("containerName")
            .and_then(Value::as_str)
            .is_some_and(|name| added.contains(&name))
    });
    let variables = profile.workload_variables();
    let ours = |item: &Value| {
        item.get("name")
            .and_then(Value::as_str)
            .is_some_and(|name| variables.contains(&name))
    };
    if let Some(origin) = entry.environment {
        remove_items(container, "environment", origin, ours);
    }
    if let Some(origin) = entry.secrets {
        remove_items(container, "secrets", origin, ours);
    }
    if let Some(origin) = entry.volumes_from {
        remove_items(container, "volumesFrom", origin, |item| {
            item.get("sourceContainer")
                .and_then(Value::as_str)
                .is_some_and(|name| added.contains(&name))
        });
    }
    if let Some(ptrace) = entry.ptrace {
        remove_ptrace(container, ptrace);
    }
}

/// A wrapped container's original entry point and command (`None`: as the container has it).
fn original_argv(
    container: &Map<String, Value>,
    shape: &ArgvShape,
    entry: &ContainerRecord,
) -> (Vec<String>, Option<Vec<String>>) {
    let entry_point = strings(container.get("entryPoint")).unwrap_or_default();
    match (shape, entry.argv_split) {
        (ArgvShape::Instrument(_), Some(split)) => {
            let argv = strings(container.get("command")).unwrap_or_default();
            let split = split.min(argv.len());
            (argv[..split].to_vec(), Some(argv[split..].to_vec()))
        }
        (ArgvShape::Prefix(prefix), _) => match entry_point.strip_prefix(&prefix[..]) {
            Some(rest) => (rest.to_vec(), None),
            None => (entry_point, None),
        },
        (ArgvShape::Instrument(_), None) => (entry_point, None),
    }
}

/// Takes out the SYS_PTRACE protect added, and whatever it created to hold it.
fn remove_ptrace(container: &mut Map<String, Value>, origin: PtraceOrigin) {
    if origin.already {
        return;
    }
    let Some(Value::Object(linux)) = container.get_mut("linuxParameters") else {
        return;
    };
    if let Some(Value::Object(capabilities)) = linux.get_mut("capabilities") {
        if let Some(Value::Array(add)) = capabilities.get_mut("add") {
            if let Some(at) = add.iter().rposition(|item| item == "SYS_PTRACE") {
                add.remove(at);
            }
        }
        restore_key_if_empty(capabilities, "add", origin.add);
        if !origin.capabilities && capabilities.is_empty() {
            linux.shift_remove("capabilities");
        }
    }
    if !origin.linux_parameters && linux.is_empty() {
        container.shift_remove("linuxParameters");
    }
}

/// Removes a list protect created (now empty again).
fn restore_key_if_empty(object: &mut Map<String, Value>, key: &str, origin: Origin) {
    if origin == Origin::Absent
        && object
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    {
        object.shift_remove(key);
    }
}

/// Removes protect's items from a list, and the list itself when protect created it.
pub(super) fn remove_items(
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
