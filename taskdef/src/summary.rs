//! The plain account of what Palisade changed, and the warnings that go with a result.

use crate::parse::InputForm;
use serde::{Deserialize, Serialize};

/// Why a key was removed during normalization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RemovalReason {
    /// Returned by DescribeTaskDefinition, refused by RegisterTaskDefinition.
    ReadOnly,
    /// Not a RegisterTaskDefinition key.
    Unknown { suggestion: Option<String> },
    /// An explicit `null`, which means "not set".
    Null,
    /// A key of the describe-output wrapper (beside `taskDefinition`).
    Wrapper,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemovedKey {
    pub key: String,
    pub pointer: String,
    #[serde(flatten)]
    pub reason: RemovalReason,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenamedKey {
    /// Pointer to the key under its new name.
    pub pointer: String,
    pub from: String,
    pub to: String,
}

/// Where the argv a wrapped container runs came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ArgvSource {
    /// The container's own `entryPoint`.
    TaskDefinition,
    /// Given by the user (`--entrypoint`, or the field in the UI).
    GivenByUser,
    /// Recovered from an earlier Palisade protection of the same task.
    EarlierProtection,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WrappedContainer {
    pub container: String,
    /// The `entryPoint` before (absent when the image's was used).
    pub before: Option<Vec<String>>,
    pub after: Vec<String>,
    /// The image CMD written as `command`, when the container had none (an `entryPoint` in the
    /// task definition would otherwise discard it).
    pub command_added: Option<Vec<String>>,
    pub source: ArgvSource,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkippedContainer {
    pub container: String,
    pub reason: String,
}

/// Everything a protection changed, for the Summary tab, `--summary` and the API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Summary {
    pub removed_keys: Vec<RemovedKey>,
    pub renamed_keys: Vec<RenamedKey>,
    pub tags_moved: usize,
    pub added_container: Option<String>,
    pub wrapped: Vec<WrappedContainer>,
    pub skipped: Vec<SkippedContainer>,
    /// Task-level changes, in words (`pidMode set to "task"`).
    pub task_changes: Vec<String>,
    /// The input was already protected; its protection was replaced by this one.
    pub replaced_protection: bool,
}

impl Summary {
    /// One sentence per change, in the order a reviewer reads a diff.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        self.normalization_lines(&mut lines);
        self.protection_lines(&mut lines);
        lines.extend(self.task_changes.iter().cloned());
        lines
    }

    /// What normalizing the input changed: keys removed and renamed, tags moved.
    fn normalization_lines(&self, lines: &mut Vec<String>) {
        let keys_with = |wanted: fn(&RemovalReason) -> bool| -> Vec<&str> {
            self.removed_keys
                .iter()
                .filter(|removed| wanted(&removed.reason))
                .map(|removed| removed.key.as_str())
                .collect()
        };
        let read_only = keys_with(|reason| matches!(reason, RemovalReason::ReadOnly));
        if !read_only.is_empty() {
            lines.push(format!(
                "removed read-only keys: {} (RegisterTaskDefinition refuses them)",
                read_only.join(", ")
            ));
        }
        let wrapper = keys_with(|reason| matches!(reason, RemovalReason::Wrapper));
        if !wrapper.is_empty() {
            lines.push(format!(
                "removed describe-output keys: {}",
                wrapper.join(", ")
            ));
        }
        for removed in &self.removed_keys {
            if let RemovalReason::Unknown { suggestion } = &removed.reason {
                let hint = suggestion
                    .as_ref()
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                lines.push(format!("removed unknown key `{}`{hint}", removed.key));
            }
        }
        let nulls = keys_with(|reason| matches!(reason, RemovalReason::Null)).len();
        if nulls > 0 {
            lines.push(format!(
                "removed {nulls} null value{} (null means not set)",
                plural(nulls)
            ));
        }
        if !self.renamed_keys.is_empty() {
            let renames: Vec<String> = self
                .renamed_keys
                .iter()
                .map(|r| format!("{} -> {}", r.from, r.to))
                .collect();
            lines.push(format!(
                "fixed key case to the ECS model: {}",
                renames.join(", ")
            ));
        }
        if self.tags_moved > 0 {
            lines.push(format!(
                "moved {} tag{} from the describe output to the top level",
                self.tags_moved,
                plural(self.tags_moved)
            ));
        }
    }

    /// What protecting changed: the containers added, wrapped and skipped.
    fn protection_lines(&self, lines: &mut Vec<String>) {
        if self.replaced_protection {
            lines.push("replaced the existing Palisade protection".to_owned());
        }
        if let Some(container) = &self.added_container {
            lines.push(format!("added container {container}"));
        }
        for wrapped in &self.wrapped {
            let before = wrapped
                .before
                .as_ref()
                .map_or("(image entrypoint)".to_owned(), |argv| render_argv(argv));
            let source = match wrapped.source {
                ArgvSource::TaskDefinition => "",
                ArgvSource::GivenByUser => ", image argv given by you",
                ArgvSource::EarlierProtection => ", image argv from the earlier protection",
            };
            lines.push(format!(
                "wrapped entryPoint of {}: {before} -> {}{source}",
                wrapped.container,
                render_argv(&wrapped.after)
            ));
            if let Some(command) = &wrapped.command_added {
                lines.push(format!(
                    "set command of {} to the image CMD {}",
                    wrapped.container,
                    render_argv(command)
                ));
            }
        }
        for skipped in &self.skipped {
            lines.push(format!("skipped {}: {}", skipped.container, skipped.reason));
        }
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// An argv as JSON, the way it appears in the task definition.
pub fn render_argv(argv: &[String]) -> String {
    serde_json::to_string(argv).unwrap_or_default()
}

/// Something the user should know about a result that is still valid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pointer {
            Some(pointer) if !pointer.is_empty() => write!(f, "{pointer}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// Shown once for the container-list form, whose task-level settings Palisade cannot write.
pub fn container_list_note(form: InputForm) -> Option<Warning> {
    (form == InputForm::ContainerDefinitions).then(|| Warning {
        pointer: None,
        message: "this is a containerDefinitions array: in the task definition around it, add a volume named \
                  `palisade` (no host path) and set pidMode to \"task\", or the defender cannot reach the \
                  wrapped containers"
            .to_owned(),
    })
}
