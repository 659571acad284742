//! The protection record: what protect found before it changed each key, kept as a label on the
//! defender, and unprotect, which reads it to give back exactly the original task.

use super::{
    container_name, strings, ImageArgv, DEFENDER_CONTAINER, PROTECTION_LABEL, VOLUME,
    WRAPPER_PREFIX,
};
use crate::pointer_push;
use crate::problem::{Problem, ProblemKind, Rejected};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The format version of [`ProtectionRecord`]; older records stay readable.
pub(super) const RECORD_VERSION: u32 = 1;

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
}

/// The label protect leaves on the defender: enough to undo exactly what it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProtectionRecord {
    pub(super) v: u32,
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
